"""Light curves: the record, its timestamps' health, and PyMovie-format CSV (what PyOTE reads).

A :class:`LightCurve` holds one row per frame: frame number, the start-of-exposure time of the
frame (seconds since :attr:`LightCurve.epoch`) and one :class:`Aperture` per measured star, the
target first. :func:`read_lightcurve` reads PyMovie/R-OTE/Tangra-style CSVs and SORA ``.dat``
files; :func:`format_pymovie_csv` writes the PyMovie format so PyOTE can open our light curves.
:func:`check_cadence` finds dropped frames and irregular cadence from the timestamps.
"""

from __future__ import annotations

import io
import math
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ekos_occult import __version__
from ekos_occult.errors import ReductionError

__all__ = [
    "TimestampSource",
    "Aperture",
    "LightCurve",
    "CadenceReport",
    "check_cadence",
    "repair_times",
    "MAX_FILE_BYTES",
    "read_lightcurve",
    "parse_pymovie_csv",
    "format_pymovie_csv",
    "iter_pymovie_csv",
]

FloatArray = npt.NDArray[np.float64]
_DATE_RE = re.compile(r"#\s*date at frame 0:\s*(\d{4})-(\d{1,2})-(\d{1,2})")
_EXTRA = ("appsum", "avgbkg", "stdbkg", "nmaskpx", "maxpx", "xcentroid", "ycentroid")


class TimestampSource(str, Enum):
    """Where the per-frame times came from."""

    TRAILER = "trailer"  # the SER per-frame UTC trailer
    HEADER_CADENCE = "header+cadence"  # SER header start time plus a given frame interval
    FRAME_INDEX = "frame index"  # no times at all: results in frames only
    CSV = "csv timeInfo"  # the light-curve file's timeInfo column


@dataclass(frozen=True)
class Aperture:
    """One star's measurements, one value per frame (PyMovie's per-aperture columns).

    ``signal`` is background-subtracted flux; ``extra`` holds PyMovie's optional per-aperture
    columns (appsum, avgbkg, stdbkg, nmaskpx, maxpx, xcentroid, ycentroid) when known.
    """

    name: str
    signal: FloatArray
    extra: dict[str, FloatArray] = field(default_factory=dict)


@dataclass(frozen=True)
class LightCurve:
    """A light curve, the target first among its apertures.

    Attributes:
        source: the file it came from.
        frames: frame numbers as in the source (float, PyMovie writes ``12.00``).
        times_s: start of exposure of each frame in seconds since ``epoch``; None when unknown.
        epoch: UTC instant that ``times_s`` count from; None when the date is unknown (times
            are then seconds since an unknown midnight, i.e. time of day).
        apertures: the target first, then reference stars.
        timestamp_source: where ``times_s`` came from.
        notes: what was assumed or found odd, for the user.
    """

    source: str
    frames: FloatArray
    times_s: FloatArray | None
    epoch: datetime | None
    apertures: tuple[Aperture, ...]
    timestamp_source: TimestampSource
    notes: tuple[str, ...] = ()

    @property
    def target(self) -> Aperture:
        """The first aperture."""
        return self.apertures[0]

    def __len__(self) -> int:
        return int(self.frames.size)

    def utc(self, t_s: float) -> datetime | None:
        """An instant on this curve's time axis as a UTC datetime (None if the date is unknown)."""
        if self.epoch is None or not math.isfinite(t_s):
            return None
        return self.epoch + timedelta(seconds=t_s)


@dataclass(frozen=True)
class CadenceReport:
    """Timestamp integrity of a light curve, judged as the field does (Tangra, PyOTE).

    Frame numbers place what is missing: a jump in the file's own frame numbers is that many
    dropped frames; a jump in time the numbers do not explain (a SER, whose frames are numbered
    by position) is dropped frames too. A stamp off the line its neighbours agree on by more than
    half a frame is one *bad stamp* (an OCR misread, a stamp from another frame), not a run of
    dropped frames: it is replaced from its neighbours (:func:`repair_times`). The limit grows to
    six times the stamps' own robust scatter when that is larger; more than 5% of stamps off the
    line is an irregular clock, not misreads.

    Attributes:
        cadence_s: median time per frame number (the frame interval), seconds.
        dropped_frames: frames missing in all.
        gaps: (row index of the frame after the gap, frames missing) for each gap.
        gap_frames: the file's frame number of the frame after each gap.
        bad_stamps: row indices of the stamps judged wrong (replaced by :func:`repair_times`).
        bad_stamp_frames: their frame numbers.
        duplicates: repeated stamps among the good ones.
        backwards: intervals that go back in time among the good stamps.
        jitter_s: robust spread (1.4826 MAD) of the frame intervals without gaps.
        irregular: more than 1% of the intervals deviate by more than 10% of the cadence.
    """

    cadence_s: float
    dropped_frames: int
    gaps: tuple[tuple[int, int], ...]
    duplicates: int
    backwards: int
    jitter_s: float
    irregular: bool
    gap_frames: tuple[float, ...] = ()
    bad_stamps: tuple[int, ...] = ()
    bad_stamp_frames: tuple[float, ...] = ()

    def describe(self) -> list[str]:
        """Human-readable findings (empty when all is regular)."""
        out = []
        if self.dropped_frames:
            labels = self.gap_frames or tuple(float(i) for i, _ in self.gaps)
            where = ", ".join(
                f"{n} before frame {_label(f)}"
                for (_, n), f in zip(self.gaps[:5], labels[:5], strict=False)
            )
            more = " ..." if len(self.gaps) > 5 else ""
            s = "s" if self.dropped_frames > 1 else ""
            out.append(f"{self.dropped_frames} dropped frame{s} ({where}{more}).")
        if self.bad_stamps:
            labels = self.bad_stamp_frames or tuple(float(i) for i in self.bad_stamps)
            where = ", ".join(f"frame {_label(f)}" for f in labels[:5])
            more = " ..." if len(labels) > 5 else ""
            n = len(self.bad_stamps)
            out.append(
                f"{n} bad timestamp{'s' if n > 1 else ''} ({where}{more}): off the line of "
                "their neighbours by more than half a frame; replaced from the neighbours."
            )
        if self.duplicates:
            out.append(f"{self.duplicates} repeated timestamps.")
        if self.backwards:
            out.append(f"timestamps go backwards {self.backwards} times.")
        if self.irregular:
            out.append(
                f"irregular cadence: {self.cadence_s * 1e3:.2f} ms per frame with "
                f"{self.jitter_s * 1e3:.2f} ms jitter."
            )
        return out


def _label(frame: float) -> str:
    return f"{frame:.0f}" if float(frame).is_integer() else f"{frame:g}"


_WINDOW = 9  # rows in the running median that bad stamps are judged against
_BAD_FRACTION = 0.05  # more bad stamps than this: the cadence is irregular, not misread


def _frame_axis(frames: FloatArray | None, n: int) -> FloatArray:
    """The file's frame numbers when usable (finite, increasing), else the row positions."""
    if frames is not None and frames.size == n and n > 0:
        f = np.asarray(frames, np.float64)
        if np.all(np.isfinite(f)) and (n == 1 or np.all(np.diff(f) > 0)):
            return f
    return np.arange(n, dtype=np.float64)


def _running_median(x: FloatArray, width: int) -> FloatArray:
    """Centred running median (reflected at the ends), computed in bounded chunks."""
    half = width // 2
    if x.size < 3 or half == 0:
        same: FloatArray = x.copy()
        return same
    half = min(half, x.size - 1)
    padded = np.pad(x, half, mode="reflect")
    out = np.empty_like(x)
    step = 65_536
    for lo in range(0, x.size, step):
        hi = min(lo + step, x.size)
        win = np.lib.stride_tricks.sliding_window_view(padded[lo : hi + 2 * half], 2 * half + 1)
        out[lo:hi] = np.median(win, axis=1)
    return out


def check_cadence(times_s: FloatArray, frames: FloatArray | None = None) -> CadenceReport:
    """Dropped frames, bad stamps, repeats, time going backwards and jitter.

    Args:
        times_s: start of exposure of each row (seconds); NaN for an untimed row.
        frames: the file's frame numbers (None: rows are consecutive frames, as in a SER).
    """
    t = np.asarray(times_s, np.float64)
    f = _frame_axis(frames, t.size)
    rows = np.flatnonzero(np.isfinite(t))
    ti, fi = t[rows], f[rows]
    nan = math.nan
    if ti.size < 2:
        return CadenceReport(nan, 0, (), 0, 0, nan, False)
    rate = np.diff(ti) / np.diff(fi)
    pos = rate[rate > 0]
    if pos.size == 0:
        dt = np.diff(ti)
        return CadenceReport(nan, 0, (), int(np.sum(dt == 0)), int(np.sum(dt < 0)), nan, True)
    cad = float(np.median(pos))
    resid = ti - cad * fi
    dev = np.abs(resid - _running_median(resid, _WINDOW))
    spread = 1.4826 * float(np.median(dev))  # the stamps' own scatter about their neighbours
    off = dev > max(0.5 * cad, 6.0 * spread)
    if np.count_nonzero(off) > max(1, _BAD_FRACTION * ti.size):
        off[:] = False  # not isolated misreads: an irregular clock, reported as such below
    good_rows = rows[~off]
    tg, fg = ti[~off], fi[~off]
    dt, dfg = np.diff(tg), np.diff(fg)
    missing = np.zeros(t.size, np.int64)  # frames missing just before each row
    numbered = np.rint(np.diff(f)).astype(np.int64) - 1  # 0 everywhere without frame numbers
    missing[1:] += np.maximum(numbered, 0)
    extra = np.rint(dt / cad).astype(np.int64) - np.rint(dfg).astype(np.int64)
    missing[good_rows[1:]] += np.maximum(extra, 0)
    gap_rows = np.flatnonzero(missing > 0)
    single = (np.rint(dfg) == 1) & (extra == 0) & (dt > 0)
    normal = dt[single]
    jitter = float(1.4826 * np.median(np.abs(normal - cad))) if normal.size else nan
    deviant = np.count_nonzero(np.abs(dt[np.rint(dfg) == 1] - cad) > 0.1 * cad)
    bad = rows[off]
    return CadenceReport(
        cadence_s=cad,
        dropped_frames=int(missing.sum()),
        gaps=tuple((int(i), int(missing[i])) for i in gap_rows),
        duplicates=int(np.count_nonzero(dt == 0)),
        backwards=int(np.count_nonzero(dt < 0)),
        jitter_s=jitter,
        irregular=bool(deviant > max(1, 0.01 * dt.size)),
        gap_frames=tuple(float(f[i]) for i in gap_rows),
        bad_stamps=tuple(int(i) for i in bad),
        bad_stamp_frames=tuple(float(f[i]) for i in bad),
    )


def repair_times(
    times_s: FloatArray, frames: FloatArray | None, report: CadenceReport
) -> FloatArray:
    """Times with bad stamps and untimed rows (NaN) replaced from their timed neighbours.

    Linear in the frame number between the nearest good stamps either side; before the first
    or after the last good stamp, the cadence carries on from it. Without a cadence (fewer than
    two good stamps) the times are returned as they are.
    """
    t = np.array(times_s, np.float64)
    if not math.isfinite(report.cadence_s):
        return t
    f = _frame_axis(frames, t.size)
    good = np.isfinite(t)
    good[list(report.bad_stamps)] = False
    if np.count_nonzero(good) < 2 or good.all():
        return t
    fg, tg = f[good], t[good]
    fix = ~good
    out = np.interp(f[fix], fg, tg)
    out = np.where(f[fix] < fg[0], tg[0] + (f[fix] - fg[0]) * report.cadence_s, out)
    out = np.where(f[fix] > fg[-1], tg[-1] + (f[fix] - fg[-1]) * report.cadence_s, out)
    t[fix] = out
    return t


_UNTIMED = math.nan  # a row whose time is marked unknown ("??:??:??.???") or left empty


def _parse_time_of_day(text: str) -> float:
    """``[HH:MM:SS.sss]`` (brackets optional) as seconds of the day; NaN when untimed.

    Raises:
        ValueError: not a time of day, or out of range.
    """
    t = text.strip().strip("[]").strip()
    if not t or "?" in t:
        return _UNTIMED
    parts = t.split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise ValueError(f"{text!r} is not [HH:MM:SS.sss]")
    try:
        h, m = int(parts[0]), int(parts[1])
        s = float(parts[2]) if _SECONDS_RE.fullmatch(parts[2].strip()) else math.nan
    except ValueError:
        raise ValueError(f"{text!r} is not [HH:MM:SS.sss]") from None
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        raise ValueError(f"{text!r} is out of range (00:00:00 to 23:59:60.999)")
    return h * 3600.0 + m * 60.0 + s


_SECONDS_RE = re.compile(r"\d{1,2}(\.\d*)?")


def _unwrap_days(tod: FloatArray) -> FloatArray:
    """Times of day that cross midnight: add a day after each large step backwards (NaN kept)."""
    rows = np.flatnonzero(np.isfinite(tod))
    out: FloatArray = tod.copy()
    if rows.size < 2:
        return out
    back = np.concatenate([[0.0], np.where(np.diff(tod[rows]) < -43_200.0, 86_400.0, 0.0)])
    out[rows] = tod[rows] + np.cumsum(back)
    return out


_HEADER_SEARCH_LINES = 10_000  # a preamble longer than this is not a light curve's
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest light-curve file read (a 10-hour 50 fps light curve with 8 stars is about 40 MB)."""


def _header_row(lines: Iterator[str], path: str) -> tuple[list[str], str, int]:
    """The preamble lines, the column header line and its 1-based line number."""
    pre: list[str] = []
    for i, line in enumerate(lines, 1):
        head = line.lstrip().split(",", 1)[0].strip()
        if head in ("FrameNum", "FrameNo"):
            return pre, line, i
        if i >= _HEADER_SEARCH_LINES:
            break
        pre.append(line)
    raise ReductionError(
        f"{path}: no column header row starting with FrameNum (PyMovie/PyOTE/R-OTE) or FrameNo "
        "(Tangra); not a light curve this reader knows."
    )


def _columns(line: str) -> list[str]:
    cols = [c.strip() for c in line.rstrip("\r\n").split(",")]
    while cols and cols[-1] == "":
        cols.pop()
    return cols


_TANGRA_SIGNAL = re.compile(r"signal\s*\((\d+)\)", re.I)
_TANGRA_BACKGROUND = re.compile(r"background\s*\((\d+)\)", re.I)


@dataclass(frozen=True)
class _Layout:
    """Which columns hold what: (signal column, background column or None, aperture name)."""

    signals: tuple[tuple[int, int | None, str], ...]
    note: str = ""


def _layout(cols: list[str], preamble: Sequence[str], path: str, line_no: int) -> _Layout:
    tangra = cols[0] == "FrameNo" or any("Tangra" in x for x in preamble[:1])
    if tangra:
        return _tangra_layout(cols, preamble, path, line_no)
    named = [(i, c[len("signal-") :]) for i, c in enumerate(cols) if c.startswith("signal-")]
    if not named:  # R-OTE: every column after timeInfo is a signal
        named = [(i, c) for i, c in enumerate(cols) if i >= 2]
    _check_names([n for _, n in named], path, line_no)
    return _Layout(tuple((i, None, n) for i, n in named))


def _check_names(names: list[str], path: str, line_no: int) -> None:
    if not names:
        raise ReductionError(f"{path}:{line_no}: the header row names no signal column.")
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ReductionError(f"{path}:{line_no}: duplicated aperture name(s) {sorted(dup)}.")


def _tangra_layout(cols: list[str], preamble: Sequence[str], path: str, line_no: int) -> _Layout:
    """Tangra: ``Signal (n)`` is the raw aperture sum, ``Background (n)`` the sky in it.

    Like PyOTE, the background is subtracted unless the export says ``SignalMinusBackground``.
    """
    already = any("SignalMinusBackground" in x for x in (*preamble, ",".join(cols)))
    backgrounds = {
        m[1]: i for i, c in enumerate(cols) if (m := _TANGRA_BACKGROUND.fullmatch(c)) is not None
    }
    signals = [
        (i, m[1], c)
        for i, c in enumerate(cols)
        if i >= 2 and (m := _TANGRA_SIGNAL.fullmatch(c)) is not None
    ]
    if not signals:  # other Tangra column names: every non-background column is a signal
        signals = [
            (i, "", c)
            for i, c in enumerate(cols)
            if i >= 2 and _TANGRA_BACKGROUND.fullmatch(c) is None
        ]
    _check_names([c for _, _, c in signals], path, line_no)
    if already:
        note = "Tangra export: signals already background-subtracted (SignalMinusBackground)."
        return _Layout(tuple((i, None, c) for i, _, c in signals), note)
    out = tuple((i, backgrounds.get(k) if k else None, c) for i, k, c in signals)
    lacking = [c for _, b, c in out if b is None]
    note = "Tangra export: Background (n) subtracted from Signal (n) (raw aperture sums)."
    if lacking:
        note += f" No background column for {', '.join(lacking)}: used as given."
    return _Layout(out, note)


def _number(text: str, name: str, path: str, line_no: int) -> float:
    if text == "":
        return math.nan
    try:
        v = float(text)
    except ValueError:
        raise ReductionError(
            f"{path}:{line_no}: column {name!r}: {text!r} is not a number."
        ) from None
    if not math.isfinite(v):
        raise ReductionError(f"{path}:{line_no}: column {name!r}: {text!r} is not a finite number.")
    return v


def _cell(row: list[str], i: int | None, name: str, path: str, line_no: int) -> float:
    if i is None or i >= len(row):
        return math.nan
    return _number(row[i], name, path, line_no)


def _date_line(preamble: Sequence[str], path: str) -> datetime | None:
    """PyMovie's ``# date at frame 0: YYYY-MM-DD`` as a UTC midnight (None when absent)."""
    for k, line in enumerate(preamble, 1):
        if "date at frame 0" not in line:
            continue
        m = _DATE_RE.match(line.strip())
        try:
            if m is None:
                raise ValueError("expected YYYY-MM-DD")
            return datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=timezone.utc)
        except ValueError as exc:
            raise ReductionError(
                f"{path}:{k}: field 'date at frame 0': {line.strip()!r} is not a date ({exc})."
            ) from None
    return None


def parse_pymovie_csv(text: str, path: str) -> LightCurve:
    """Parse a light-curve CSV: PyMovie, R-OTE/PyOTE output, or a Tangra export.

    Times: ``[HH:MM:SS.sss]`` per row; a row marked untimed (Tangra's ``??:??:??.???``, or an
    empty cell) gets its time interpolated between timed neighbours by frame number. Tangra's
    ``Signal (n)`` minus ``Background (n)`` is the star (see :func:`_tangra_layout`).

    Raises:
        ReductionError: no header row, a cell that is not a finite number, a time or date out of
            range, or no data rows; the message names the file, line and column.
    """
    lines = iter(io.StringIO(text))
    preamble, header, h = _header_row(lines, path)
    cols = _columns(header)
    layout = _layout(cols, preamble, path, h)
    names = [(i, n) for i, _, n in layout.signals]
    extra_idx = {
        f"{k}-{n}": i
        for i, c in enumerate(cols)
        for k in _EXTRA
        for _, n in names
        if c == f"{k}-{n}"
    }
    time_name = cols[1] if len(cols) > 1 else "timeInfo"
    frames, tods = array("d"), array("d")
    sig, ext = array("d"), array("d")
    for line_no, row in _data_rows(lines, h):
        frame = _number(row[0] if row else "", cols[0], path, line_no)
        if math.isnan(frame):
            raise ReductionError(f"{path}:{line_no}: column {cols[0]!r}: no frame number.")
        frames.append(frame)
        try:
            tods.append(_parse_time_of_day(row[1]) if len(row) > 1 else _UNTIMED)
        except ValueError as exc:
            raise ReductionError(f"{path}:{line_no}: column {time_name!r}: {exc}.") from None
        for i, b, _ in layout.signals:
            v = _cell(row, i, cols[i], path, line_no)
            if b is not None:
                v -= _cell(row, b, cols[b], path, line_no)
            sig.append(v)
        ext.extend(_cell(row, i, k, path, line_no) for k, i in extra_idx.items())
    if not frames:
        raise ReductionError(f"{path}: the light curve has a header row but no data rows.")
    n = len(frames)
    values = np.frombuffer(sig, np.float64).reshape(n, len(names))
    if not np.isfinite(values[:, 0]).any():
        raise ReductionError(f"{path}: the target column {cols[names[0][0]]!r} has no numbers.")
    ext_arr = np.frombuffer(ext, np.float64).reshape(n, len(extra_idx))
    extra = {k: ext_arr[:, j] for j, k in enumerate(extra_idx)}
    notes = [layout.note] if layout.note else []
    return _assemble(
        path,
        _date_line(preamble, path),
        np.frombuffer(frames, np.float64).copy(),
        np.frombuffer(tods, np.float64).copy(),
        names,
        values,
        extra,
        notes,
    )


def _data_rows(lines: Iterator[str], header_no: int) -> Iterator[tuple[int, list[str]]]:
    for j, line in enumerate(lines, header_no + 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield j, _columns(line)


def _assemble(
    path: str,
    epoch: datetime | None,
    frames: FloatArray,
    tods: FloatArray,
    names: list[tuple[int, str]],
    values: FloatArray,
    extra: dict[str, FloatArray],
    notes: list[str],
) -> LightCurve:
    timed = np.isfinite(tods)
    n_timed = int(np.count_nonzero(timed))
    times: FloatArray | None = None
    source = TimestampSource.FRAME_INDEX
    if n_timed >= 2 or (n_timed == 1 and tods.size == 1):
        times, source = _unwrap_days(tods), TimestampSource.CSV
        if n_timed < tods.size:
            times = repair_times(times, frames, check_cadence(times, frames))
            notes.append(
                f"{tods.size - n_timed} untimed frames (no time, or '??:??:??.???') given times "
                "interpolated between their timed neighbours by frame number."
            )
        if epoch is None:
            notes.append("the file gives no date ('# date at frame 0'); times are time of day.")
    elif n_timed == 1:
        notes.append("only one row has a time; timestamps ignored, results in frame numbers.")
    else:
        notes.append("the file has no timestamps; results in frame numbers.")
    bad = ~np.isfinite(values[:, 0])
    if bad.any():
        notes.append(f"{int(bad.sum())} rows with an empty target value dropped.")
    keep = ~bad
    aps = tuple(
        Aperture(
            n,
            values[keep, k],
            {key.split("-", 1)[0]: v[keep] for key, v in extra.items() if key.endswith(f"-{n}")},
        )
        for k, (_, n) in enumerate(names)
    )
    return LightCurve(
        path, frames[keep], None if times is None else times[keep], epoch, aps, source, tuple(notes)
    )


_JD_MIN, _JD_MAX = 2_400_000.0, 2_600_000.0  # Julian dates from 1858 to 2405


def _read_sora_dat(text: str, path: str) -> LightCurve:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            parts = line.split()
            try:
                t_i, f_i = float(parts[0]), float(parts[1])
            except (ValueError, IndexError):
                raise ReductionError(
                    f"{path}:{i}: expected two numbers 'time flux', got {line.strip()!r}."
                ) from None
            for name, v in (("time", t_i), ("flux", f_i)):
                if not math.isfinite(v):
                    raise ReductionError(f"{path}:{i}: field {name!r}: {v!r} is not finite.")
            if not (_JD_MIN <= t_i <= _JD_MAX or abs(t_i) <= 1e7):
                raise ReductionError(
                    f"{path}:{i}: field 'time': {parts[0]!r} is neither a Julian date "
                    f"({_JD_MIN:.0f}-{_JD_MAX:.0f}) nor seconds (within +/-1e7)."
                )
            rows.append((t_i, f_i))
    if not rows:
        raise ReductionError(f"{path}: no data rows.")
    arr = np.asarray(rows)
    t = arr[:, 0]
    epoch = None
    notes = ["SORA .dat times are mid-exposure; shifted by half a frame to start of exposure."]
    if (t[0] >= _JD_MIN) != (t[-1] >= _JD_MIN):
        raise ReductionError(f"{path}: field 'time' mixes Julian dates and seconds.")
    if t[0] >= _JD_MIN:  # Julian dates
        jd0 = math.floor(t[0] - 0.5) + 0.5
        epoch = datetime(2000, 1, 1, 12, tzinfo=timezone.utc) + timedelta(days=jd0 - 2451545.0)
        t = (t - jd0) * 86_400.0
    else:
        notes.append("times are seconds with no date.")
    cad = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    return LightCurve(
        path,
        np.arange(t.size, dtype=np.float64),
        t - cad / 2,
        epoch,
        (Aperture("target", arr[:, 1]),),
        TimestampSource.CSV,
        tuple(notes),
    )


def read_lightcurve(path: str | Path) -> LightCurve:
    """Read a light-curve file: PyMovie-format CSV (any extension) or SORA ``.dat``.

    Raises:
        ReductionError: unreadable or malformed file.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ReductionError(
                f"{p}: {size / 2**20:.0f} MiB is too large for a light curve "
                f"(at most {MAX_FILE_BYTES // 2**20} MiB); is it the right file?"
            )
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ReductionError(f"{p}: cannot read: {exc.strerror or exc}.") from exc
    if p.suffix.lower() == ".dat":
        return _read_sora_dat(text, str(p))
    return parse_pymovie_csv(text, str(p))


def _frame0_date(lc: LightCurve) -> date | None:
    if lc.epoch is None:
        return None
    t0 = lc.utc(float(lc.times_s[0])) if lc.times_s is not None else lc.epoch
    return None if t0 is None else t0.date()


def format_pymovie_csv(lc: LightCurve, comments: Sequence[str] = ()) -> str:
    """The light curve as PyMovie CSV text: ``# PyMovie`` first line, signals, per-aperture columns.

    Every line ends with a newline (PyOTE cuts the last character of each data line).
    """
    return "".join(iter_pymovie_csv(lc, comments))


_CSV_ROWS = 16_384  # rows formatted at a time: bounded memory however long the curve


def iter_pymovie_csv(
    lc: LightCurve, comments: Sequence[str] = (), rows: int = _CSV_ROWS
) -> Iterator[str]:
    """:func:`format_pymovie_csv` as text blocks of at most ``rows`` lines, so that a curve of
    millions of frames is never held as millions of line strings at once."""
    out = [
        f"# PyMovie Version 4.0.2 format, written by ekos-occult {__version__}",
        f"# source: {lc.source}",
    ]
    day = _frame0_date(lc)
    if day is not None:
        out.append(f"# date at frame 0: {day.isoformat()}")
    out += [f"# {c}" for c in comments]
    names = [a.name.replace("-", "_").replace(",", "_") for a in lc.apertures]
    extra_keys = [k for k in _EXTRA if all(k in a.extra for a in lc.apertures)]
    head = ["FrameNum", "timeInfo"] + [f"signal-{n}" for n in names]
    head += [f"{k}-{n}" for n in names for k in extra_keys]
    out.append(",".join(head))
    yield "\n".join(out) + "\n"
    columns = [a.signal for a in lc.apertures]
    columns += [a.extra[k] for a in lc.apertures for k in extra_keys]
    for lo in range(0, len(lc), rows):
        hi = min(lo + rows, len(lc))
        cells = [[f"{v:.2f}" for v in lc.frames[lo:hi].tolist()], _time_cells(lc, lo, hi)]
        cells += [[f"{v:.2f}" for v in np.asarray(c[lo:hi], np.float64).tolist()] for c in columns]
        yield "".join(",".join(row) + "\n" for row in zip(*cells, strict=True))


def _time_cells(lc: LightCurve, lo: int, hi: int) -> list[str]:
    """``[HH:MM:SS.ffffff]`` time of day of rows ``lo..hi-1`` (empty when untimed)."""
    if lc.times_s is None:
        return [""] * (hi - lo)
    t = np.asarray(lc.times_s[lo:hi], np.float64)
    ok = np.isfinite(t)
    if lc.epoch is not None:  # as lc.utc(t) then its time of day: whole microseconds
        e = lc.epoch
        e_us = ((e.hour * 60 + e.minute) * 60 + e.second) * 1_000_000 + e.microsecond
        us = (e_us + np.rint(np.where(ok, t, 0.0) * 1e6).astype(np.int64)) % 86_400_000_000
    else:
        us = np.rint(np.where(ok, t, 0.0) % 86_400.0 * 1e6).astype(np.int64)
    h, rem = np.divmod(us, 3_600_000_000)
    m, rem = np.divmod(rem, 60_000_000)
    sec, frac = np.divmod(rem, 1_000_000)
    return [
        f"[{a:02d}:{b:02d}:{c:02d}.{d:06d}]" if good else ""
        for a, b, c, d, good in zip(
            h.tolist(), m.tolist(), sec.tolist(), frac.tolist(), ok.tolist(), strict=True
        )
    ]
