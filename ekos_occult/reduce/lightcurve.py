"""Light curves: the record, its timestamps' health, and PyMovie-format CSV (what PyOTE reads).

A :class:`LightCurve` holds one row per frame: frame number, the start-of-exposure time of the
frame (seconds since :attr:`LightCurve.epoch`) and one :class:`Aperture` per measured star, the
target first. :func:`read_lightcurve` reads PyMovie/R-OTE/Tangra-style CSVs and SORA ``.dat``
files; :func:`format_pymovie_csv` writes the PyMovie format so PyOTE can open our light curves.
:func:`check_cadence` finds dropped frames and irregular cadence from the timestamps.
"""

from __future__ import annotations

import math
import re
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
    "read_lightcurve",
    "parse_pymovie_csv",
    "format_pymovie_csv",
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
    """Regularity of the frame times.

    Attributes:
        cadence_s: median interval between frames.
        dropped_frames: frames missing according to the gaps in the timestamps.
        gaps: (index of the frame after the gap, frames missing) for each gap.
        duplicates: intervals of zero (repeated stamps).
        backwards: intervals that go back in time.
        jitter_s: robust spread (1.4826 MAD) of the intervals without gaps.
        irregular: True when more than 1% of intervals deviate by more than 10% of the cadence.
    """

    cadence_s: float
    dropped_frames: int
    gaps: tuple[tuple[int, int], ...]
    duplicates: int
    backwards: int
    jitter_s: float
    irregular: bool

    def describe(self) -> list[str]:
        """Human-readable findings (empty when all is regular)."""
        out = []
        if self.dropped_frames:
            where = ", ".join(f"{n} before frame {i}" for i, n in self.gaps[:5])
            more = " ..." if len(self.gaps) > 5 else ""
            out.append(f"{self.dropped_frames} dropped frames ({where}{more}).")
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


def check_cadence(times_s: FloatArray) -> CadenceReport:
    """Find dropped frames, repeats, time going backwards and jitter in frame start times."""
    dt = np.diff(np.asarray(times_s, np.float64))
    pos = dt[dt > 0]
    if pos.size == 0:
        return CadenceReport(
            math.nan, 0, (), int(np.sum(dt == 0)), int(np.sum(dt < 0)), math.nan, bool(dt.size)
        )
    cadence = float(np.median(pos))
    ratio = dt / cadence
    gap_idx = np.flatnonzero(ratio > 1.5)
    missing = np.rint(ratio[gap_idx]).astype(int) - 1
    gaps = tuple((int(i) + 1, int(m)) for i, m in zip(gap_idx, missing, strict=True) if m > 0)
    normal = dt[(ratio > 0) & (ratio <= 1.5)]
    jitter = float(1.4826 * np.median(np.abs(normal - cadence))) if normal.size else math.nan
    off = np.count_nonzero(np.abs(normal - cadence) > 0.1 * cadence)
    return CadenceReport(
        cadence_s=cadence,
        dropped_frames=int(sum(m for _, m in gaps)),
        gaps=gaps,
        duplicates=int(np.count_nonzero(dt == 0)),
        backwards=int(np.count_nonzero(dt < 0)),
        jitter_s=jitter,
        irregular=bool(off > max(1, 0.01 * dt.size)),
    )


def _parse_time_of_day(text: str) -> float | None:
    t = text.strip().strip("[]").strip()
    if not t:
        return None
    parts = t.split(":")
    if len(parts) != 3:
        raise ValueError(f"timeInfo {text!r} is not [HH:MM:SS.sss]")
    h, m, s = int(parts[0]), int(parts[1]), float(parts[2])
    if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 61):
        raise ValueError(f"timeInfo {text!r} is out of range")
    return h * 3600.0 + m * 60.0 + s


def _unwrap_days(tod: FloatArray) -> FloatArray:
    """Times of day that cross midnight: add a day after each large step backwards."""
    back = np.concatenate([[0.0], np.where(np.diff(tod) < -43_200.0, 86_400.0, 0.0)])
    out: FloatArray = tod + np.cumsum(back)
    return out


def _header_row(lines: Sequence[str], path: str) -> int:
    for i, line in enumerate(lines):
        head = line.lstrip().split(",", 1)[0].strip()
        if head in ("FrameNum", "FrameNo"):
            return i
    raise ReductionError(
        f"{path}: no column header row starting with FrameNum; not a PyMovie/PyOTE light curve."
    )


def _columns(line: str) -> list[str]:
    cols = [c.strip() for c in line.rstrip("\r\n").split(",")]
    while cols and cols[-1] == "":
        cols.pop()
    return cols


def _signal_names(cols: list[str], path: str, line_no: int) -> list[tuple[int, str]]:
    named = [(i, c[len("signal-") :]) for i, c in enumerate(cols) if c.startswith("signal-")]
    if not named:  # R-OTE / Tangra: every column after timeInfo is a signal
        named = [(i, c) for i, c in enumerate(cols) if i >= 2]
    if not named:
        raise ReductionError(f"{path}:{line_no}: the header row names no signal column.")
    seen = [n for _, n in named]
    dup = {n for n in seen if seen.count(n) > 1}
    if dup:
        raise ReductionError(f"{path}:{line_no}: duplicated aperture name(s) {sorted(dup)}.")
    return named


def _data_rows(lines: Sequence[str], start: int) -> Iterator[tuple[int, list[str]]]:
    for j in range(start, len(lines)):
        line = lines[j]
        if line.strip() and not line.lstrip().startswith("#"):
            yield j + 1, _columns(line)


def _cell(row: list[str], i: int, name: str, path: str, line_no: int) -> float:
    try:
        return float(row[i]) if i < len(row) and row[i] != "" else math.nan
    except ValueError:
        raise ReductionError(
            f"{path}:{line_no}: column {name!r}: {row[i]!r} is not a number."
        ) from None


def parse_pymovie_csv(text: str, path: str) -> LightCurve:
    """Parse a PyMovie-format light curve (also R-OTE/PyOTE output and AOTA-style Tangra files).

    Raises:
        ReductionError: no header row, a cell that is not a number, or no data rows.
    """
    lines = text.splitlines()
    h = _header_row(lines, path)
    cols = _columns(lines[h])
    names = _signal_names(cols, path, h + 1)
    extra_idx = {
        f"{k}-{n}": i
        for i, c in enumerate(cols)
        for k in _EXTRA
        for _, n in names
        if c == f"{k}-{n}"
    }
    frames: list[float] = []
    tods: list[float | None] = []
    sig: list[list[float]] = []
    ext: list[list[float]] = []
    for line_no, row in _data_rows(lines, h + 1):
        frames.append(_cell(row, 0, cols[0], path, line_no))
        try:
            tods.append(_parse_time_of_day(row[1]) if len(row) > 1 else None)
        except ValueError as exc:
            raise ReductionError(f"{path}:{line_no}: column 'timeInfo': {exc}.") from None
        sig.append([_cell(row, i, cols[i], path, line_no) for i, _ in names])
        ext.append([_cell(row, i, k, path, line_no) for k, i in extra_idx.items()])
    if not frames:
        raise ReductionError(f"{path}: the light curve has a header row but no data rows.")
    values = np.asarray(sig, np.float64)
    bad = ~np.isfinite(values[:, 0])
    if bad.all():
        raise ReductionError(f"{path}: the target column {cols[names[0][0]]!r} has no numbers.")
    ext_arr = np.asarray(ext, np.float64).reshape(len(frames), len(extra_idx))
    extra = {k: ext_arr[:, j] for j, k in enumerate(extra_idx)}
    return _assemble(path, lines[:h], np.asarray(frames), tods, names, values, extra)


def _assemble(
    path: str,
    header: Sequence[str],
    frames: FloatArray,
    tods: list[float | None],
    names: list[tuple[int, str]],
    values: FloatArray,
    extra: dict[str, FloatArray],
) -> LightCurve:
    notes: list[str] = []
    d = next((m for m in (_DATE_RE.match(x.strip()) for x in header) if m), None)
    epoch = datetime(int(d[1]), int(d[2]), int(d[3]), tzinfo=timezone.utc) if d else None
    have = [t is not None for t in tods]
    times: FloatArray | None = None
    source = TimestampSource.FRAME_INDEX
    if all(have):
        times, source = _unwrap_days(np.asarray(tods, np.float64)), TimestampSource.CSV
        if epoch is None:
            notes.append("the file gives no date ('# date at frame 0'); times are time of day.")
    elif any(have):
        notes.append(
            f"{have.count(False)} rows have no timeInfo; timestamps ignored, "
            f"results in frame numbers."
        )
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


def _read_sora_dat(text: str, path: str) -> LightCurve:
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            parts = line.split()
            try:
                rows.append((float(parts[0]), float(parts[1])))
            except (ValueError, IndexError):
                raise ReductionError(
                    f"{path}:{i}: expected two numbers 'time flux', got {line.strip()!r}."
                ) from None
    if not rows:
        raise ReductionError(f"{path}: no data rows.")
    arr = np.asarray(rows)
    t = arr[:, 0]
    epoch = None
    notes = ["SORA .dat times are mid-exposure; shifted by half a frame to start of exposure."]
    if t[0] > 2_400_000:  # Julian dates
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
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ReductionError(f"{p}: cannot read: {exc.strerror or exc}.") from exc
    if p.suffix.lower() == ".dat":
        return _read_sora_dat(text, str(p))
    return parse_pymovie_csv(text, str(p))


def _time_info(lc: LightCurve, i: int) -> str:
    if lc.times_s is None:
        return ""
    t = float(lc.times_s[i])
    u = lc.utc(t)
    if u is not None:
        t = u.hour * 3600.0 + u.minute * 60.0 + u.second + u.microsecond / 1e6
    us = round((t % 86_400.0) * 1e6)
    h, rem = divmod(us, 3_600_000_000)
    m, rem = divmod(rem, 60_000_000)
    return f"[{h:02d}:{m:02d}:{rem // 1_000_000:02d}.{rem % 1_000_000:06d}]"


def _frame0_date(lc: LightCurve) -> date | None:
    if lc.epoch is None:
        return None
    t0 = lc.utc(float(lc.times_s[0])) if lc.times_s is not None else lc.epoch
    return None if t0 is None else t0.date()


def format_pymovie_csv(lc: LightCurve, comments: Sequence[str] = ()) -> str:
    """The light curve as PyMovie CSV text: ``# PyMovie`` first line, signals, per-aperture columns.

    Every line ends with a newline (PyOTE cuts the last character of each data line).
    """
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
    for i in range(len(lc)):
        cells = [f"{lc.frames[i]:.2f}", _time_info(lc, i)]
        cells += [f"{a.signal[i]:.2f}" for a in lc.apertures]
        cells += [f"{a.extra[k][i]:.2f}" for a in lc.apertures for k in extra_keys]
        out.append(",".join(cells))
    return "\n".join(out) + "\n"
