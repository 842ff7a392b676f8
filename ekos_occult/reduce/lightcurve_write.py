"""Writing a light curve as PyMovie CSV (the format PyOTE opens).

Columns: ``FrameNum``, ``timeInfo`` (``[HH:MM:SS.ffffff]`` UTC time of day, start of exposure),
``signal-<aperture>`` per star, then PyMovie's optional per-aperture columns when every aperture
has them. A ``# date at frame 0`` line carries the date when known.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import numpy as np

from ekos_occult import __version__
from ekos_occult.reduce.lightcurve import EXTRA_COLUMNS, LightCurve

__all__ = ["format_pymovie_csv", "iter_pymovie_csv"]


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
    extra_keys = [k for k in EXTRA_COLUMNS if all(k in a.extra for a in lc.apertures)]
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
