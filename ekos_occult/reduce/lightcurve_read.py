"""Reading light-curve files: PyMovie, R-OTE/PyOTE and Tangra CSV exports, SORA ``.dat``.

:func:`read_lightcurve` picks the reader by extension (``.dat``: SORA, two columns ``time flux``
with Julian dates or seconds, mid-exposure; anything else: CSV). :func:`parse_pymovie_csv` reads
the CSV family: a preamble of ``#`` lines, a header row starting ``FrameNum`` (PyMovie, PyOTE,
R-OTE) or ``FrameNo`` (Tangra), then one row per frame with ``[HH:MM:SS.sss]`` times of day.
Every error is a :class:`~ekos_occult.errors.ReductionError` naming the file, line and column.
"""

from __future__ import annotations

import io
import math
import re
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ekos_occult.errors import ReductionError
from ekos_occult.reduce.cadence import check_cadence, repair_times
from ekos_occult.reduce.lightcurve import (
    EXTRA_COLUMNS,
    Aperture,
    FloatArray,
    LightCurve,
    TimestampSource,
)

__all__ = ["MAX_FILE_BYTES", "read_lightcurve", "parse_pymovie_csv"]

_DATE_RE = re.compile(r"#\s*date at frame 0:\s*(\d{4})-(\d{1,2})-(\d{1,2})")

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
        for k in EXTRA_COLUMNS
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
