"""Check a recorded SER video against the plan: file present, frame count, timestamps, gaps.

The file is opened with :func:`ekos_occult.video.ser.open_ser`, which reads the header and the
per-frame timestamp trailer and recovers what a crash left (it never loads the pixels), so a
multi-gigabyte recording is checked in milliseconds. The judgement itself,
:func:`check_recording`, is pure: frame count and timestamps in, verdict out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from ekos_occult.errors import ReductionError
from ekos_occult.video.ser import open_ser, ticks_to_datetime

__all__ = [
    "GAP_FACTOR",
    "MAX_GAP_LIST",
    "SerExpectation",
    "SerCheck",
    "check_recording",
    "verify_ser",
]

GAP_FACTOR = 1.5
"""An interval longer than this many exposures is a gap (dropped frames)."""
MAX_GAP_LIST = 1000
"""Gaps listed one by one in :attr:`SerCheck.gap_list` (a journal line stays small)."""


@dataclass(frozen=True)
class SerExpectation:
    """What a recording of one event must contain.

    Attributes:
        record_start, record_end: the planned window (UTC).
        exposure_s: planned frame interval.
        tolerance_s: slack on the window's edges beyond one exposure.
        min_frame_fraction: fewest frames, as a fraction of ``duration / exposure``, still valid.
    """

    record_start: datetime
    record_end: datetime
    exposure_s: float
    tolerance_s: float = 0.25
    min_frame_fraction: float = 0.9

    @property
    def expected_frames(self) -> int:
        return max(
            1, round((self.record_end - self.record_start).total_seconds() / self.exposure_s)
        )


@dataclass(frozen=True)
class SerCheck:
    """The verdict on one SER file.

    Attributes:
        path: the file checked.
        frames, expected_frames: frames present and frames the rate calls for.
        dropped_frames: frames missing inside gaps (an interval > 1.5 exposures counts
            ``round(interval / exposure) - 1``).
        gaps: number of such intervals.
        first_frame_utc, last_frame_utc: first and last per-frame timestamps.
        start_delay_s: first frame timestamp minus the planned start.
        problems: reasons the file is invalid (empty when valid).
        warnings: things to know that do not invalidate it.
        gap_list: each gap as (index of the frame before it, frames missing there); the first
            :data:`MAX_GAP_LIST` gaps only (``gaps`` counts them all).
    """

    path: Path
    frames: int = 0
    expected_frames: int = 0
    dropped_frames: int = 0
    gaps: int = 0
    first_frame_utc: datetime | None = None
    last_frame_utc: datetime | None = None
    start_delay_s: float | None = None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    gap_list: tuple[tuple[int, int], ...] = ()

    @property
    def is_valid(self) -> bool:
        return not self.problems

    @property
    def is_usable(self) -> bool:
        """Valid, or frames with timestamps: worth keeping and reducing, whatever is wrong."""
        return self.is_valid or (self.frames > 0 and self.first_frame_utc is not None)


def check_recording(
    path: Path,
    frames: int,
    stamps: Sequence[int] | np.ndarray | None,
    expect: SerExpectation,
    notes: Sequence[str] = (),
) -> SerCheck:
    """Judge a recording against the plan (pure).

    Args:
        path: the file (for the verdict).
        frames: complete frames in the file.
        stamps: per-frame UTC timestamps in .NET ticks, or None when the file has none.
        expect: the planned window and rate.
        notes: what the reader recovered or assumed (kept as warnings, or as the problem
            when there are no timestamps).

    Returns:
        The verdict with counts, first/last stamps, gaps and reasons.
    """
    base = SerCheck(path, frames=frames, expected_frames=expect.expected_frames)
    if stamps is None or len(stamps) == 0:
        why = " ".join(notes) or "no per-frame timestamps"
        return replace(base, problems=(why,))
    all_ticks = np.asarray(stamps, dtype=np.int64)
    stamped = np.flatnonzero(all_ticks > 0)  # 0: no (usable) stamp, see open_ser
    if stamped.size == 0:
        return replace(base, problems=(" ".join(notes) or "no usable per-frame timestamp",))
    ticks = all_ticks[stamped]
    steps = np.diff(stamped)  # frames between consecutive stamped frames (1 when none unstamped)
    intervals = np.diff(ticks) / 1e7 / steps  # seconds per frame
    first, last = ticks_to_datetime(int(ticks[0])), ticks_to_datetime(int(ticks[-1]))
    if stamped[0] > 0 or stamped[-1] < all_ticks.size - 1:  # the window's ends were not stamped
        step = float(np.median(intervals)) if intervals.size else expect.exposure_s
        first -= timedelta(seconds=float(stamped[0]) * step)
        last += timedelta(seconds=float(all_ticks.size - 1 - stamped[-1]) * step)
    exp = expect.exposure_s
    gap_mask = intervals > GAP_FACTOR * exp
    missing = np.rint(intervals * steps / exp).astype(np.int64) - steps
    dropped = int(np.sum(missing[gap_mask]))
    listed = np.flatnonzero(gap_mask)[:MAX_GAP_LIST]
    gap_list = tuple(zip(stamped[listed].tolist(), missing[listed].tolist(), strict=True))
    delay = (first - expect.record_start).total_seconds()
    problems, warnings = _judge(frames, intervals, delay, last, expect)
    if dropped:
        warnings.append(f"{dropped} dropped frames in {int(np.sum(gap_mask))} gaps")
    if stamped.size < all_ticks.size:
        warnings.append(
            f"{all_ticks.size - stamped.size} frames have no usable timestamp; their times "
            "are not used"
        )
    return replace(
        base,
        dropped_frames=dropped,
        gaps=int(np.sum(gap_mask)),
        first_frame_utc=first,
        last_frame_utc=last,
        start_delay_s=delay,
        problems=tuple(problems),
        warnings=(*notes, *warnings),
        gap_list=gap_list,
    )


def _judge(
    frames: int, intervals: np.ndarray, delay: float, last: datetime, expect: SerExpectation
) -> tuple[list[str], list[str]]:
    exp, slack = expect.exposure_s, expect.exposure_s + expect.tolerance_s
    problems: list[str] = []
    warnings: list[str] = []
    if np.any(intervals <= 0):
        problems.append("timestamps are not increasing")
    if delay > slack:
        problems.append(
            f"first frame {delay:.3f} s after the planned start (allowed {slack:.3f} s)"
        )
    elif delay < -slack:
        warnings.append(f"first frame {-delay:.3f} s before the planned start")
    short = (expect.record_end - last).total_seconds()
    if short > slack:
        problems.append(f"last frame {short:.3f} s before the planned end (allowed {slack:.3f} s)")
    wanted = expect.expected_frames
    if frames < expect.min_frame_fraction * wanted:
        problems.append(f"{frames} frames where the rate ({exp:g} s) calls for about {wanted}")
    elif frames > 1.1 * wanted + 1:
        warnings.append(
            f"{frames} frames, more than the {wanted} planned: exposure shorter than planned?"
        )
    return problems, warnings


def verify_ser(path: Path, expect: SerExpectation) -> SerCheck:
    """Open ``path`` and check it against ``expect``; an unreadable file is an invalid verdict."""
    try:
        ser = open_ser(path)
    except ReductionError as exc:
        return SerCheck(path, expected_frames=expect.expected_frames, problems=(str(exc),))
    return check_recording(path, ser.n_frames, ser.timestamps, expect, ser.notes)
