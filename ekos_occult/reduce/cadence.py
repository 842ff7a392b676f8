"""Timestamp health of a light curve: dropped frames, bad stamps, repeats, jitter; repairs.

Input: per-row start-of-exposure times in seconds (NaN for an untimed row) and, optionally, the
file's own frame numbers. :func:`check_cadence` judges them as Tangra and PyOTE do and returns a
:class:`CadenceReport`; :func:`repair_times` replaces the bad stamps and untimed rows from their
neighbours. Pure numpy; no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ekos_occult.reduce.lightcurve import FloatArray

__all__ = ["CadenceReport", "check_cadence", "repair_times"]


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
