"""Check a recorded SER video against the plan: file present, frame count, timestamps, gaps.

Reads only the 178-byte header and the per-frame timestamp trailer (never the pixels), so a
multi-gigabyte recording is checked in milliseconds. The minimal reader lives here because no
shared SER reader existed when the supervisor was written; if :mod:`ekos_occult.ser` grows a
header/timestamp API, this module should call it instead.

SER (Grischa Hahn, v3) as INDI writes it: little-endian header ``FileID[14]`` (``INDI-RECORDER``
or ``LUCAM-RECORDER``), ``LuID``, ``ColorID``, ``LittleEndian`` (0 in practice), ``Width``,
``Height``, ``PixelDepthPerPlane``, ``FrameCount``, three 40-byte texts, ``DateTime`` (local,
garbage in INDI) and ``DateTime_UTC`` (int64, 100 ns ticks since 0001-01-01); then the frames;
then ``FrameCount`` int64 UTC stamps. A crash leaves ``FrameCount`` 0 and no trailer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

__all__ = [
    "SER_HEADER",
    "SerSummary",
    "SerExpectation",
    "SerCheck",
    "ticks_to_datetime",
    "datetime_to_ticks",
    "read_ser_summary",
    "check_timestamps",
    "verify_ser",
]

SER_HEADER = struct.Struct("<14s7i40s40s40sqq")
assert SER_HEADER.size == 178
_EPOCH = datetime(1, 1, 1, tzinfo=timezone.utc)
_RGB_COLOR_IDS = (100, 101)
GAP_FACTOR = 1.5
"""An interval longer than this many exposures is a gap (dropped frames)."""


def ticks_to_datetime(ticks: int) -> datetime:
    """SER/.NET ticks (100 ns since 0001-01-01 UTC) to an aware UTC datetime (µs resolution)."""
    return _EPOCH + timedelta(microseconds=ticks // 10)


def datetime_to_ticks(t: datetime) -> int:
    """An aware datetime to SER/.NET ticks."""
    delta = t.astimezone(timezone.utc) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


@dataclass(frozen=True)
class SerSummary:
    """What the header and trailer of a SER file say.

    Attributes:
        file_id: the header's FileID text.
        width, height, bit_depth, planes: frame geometry.
        frames: frames in the file (from the header, or from the size after a crash).
        header_frames: FrameCount as written in the header.
        header_utc: DateTime_UTC (when the recorder opened the file), or None.
        timestamps_ticks: the per-frame stamps (empty when there is no trailer).
        problems: what makes the file unreadable or incomplete.
    """

    file_id: str
    width: int
    height: int
    bit_depth: int
    planes: int
    frames: int
    header_frames: int
    header_utc: datetime | None
    timestamps_ticks: tuple[int, ...]
    problems: tuple[str, ...] = ()

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * self.planes * (1 if self.bit_depth <= 8 else 2)


def _decode_header(raw: bytes) -> tuple[str, int, int, int, int, int, datetime | None]:
    fields = SER_HEADER.unpack(raw)
    file_id = fields[0].rstrip(b"\0 ").decode("ascii", errors="replace")
    color_id, width, height, depth, count = fields[2], fields[4], fields[5], fields[6], fields[7]
    planes = 3 if color_id in _RGB_COLOR_IDS else 1
    utc_ticks = fields[12]
    header_utc = ticks_to_datetime(utc_ticks) if utc_ticks > 0 else None
    return file_id, width, height, depth, planes, count, header_utc


def read_ser_summary(path: Path) -> SerSummary:
    """Read a SER file's header and timestamp trailer.

    Raises:
        OSError: the file cannot be opened (the caller names it in its message).
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        raw = fh.read(SER_HEADER.size)
        if len(raw) < SER_HEADER.size:
            return SerSummary("", 0, 0, 0, 1, 0, 0, None, (), (f"only {size} bytes: no header",))
        file_id, width, height, depth, planes, count, header_utc = _decode_header(raw)
        summary = SerSummary(file_id, width, height, depth, planes, 0, count, header_utc, ())
        if width <= 0 or height <= 0 or not 1 <= depth <= 16:
            return replace(summary, problems=(f"bad header: {width}x{height}x{depth} bits",))
        body = size - SER_HEADER.size
        if count <= 0:  # crash: header never rewritten; count what is there
            frames = body // summary.frame_bytes
            return replace(
                summary, frames=frames, problems=("header frame count is 0 (recording not closed)",)
            )
        image_bytes = count * summary.frame_bytes
        if body < image_bytes:
            frames = body // summary.frame_bytes
            return replace(
                summary, frames=frames, problems=(f"truncated: {frames} of {count} frames present",)
            )
        if body - image_bytes != 8 * count:
            return replace(summary, frames=count, problems=("no per-frame timestamp trailer",))
        fh.seek(SER_HEADER.size + image_bytes)
        stamps = np.frombuffer(fh.read(8 * count), dtype="<i8")
    return replace(summary, frames=count, timestamps_ticks=tuple(int(t) for t in stamps))


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

    @property
    def is_valid(self) -> bool:
        return not self.problems


def check_timestamps(path: Path, summary: SerSummary, expect: SerExpectation) -> SerCheck:
    """Judge a read SER summary against the plan (pure).

    Args:
        path: the file the summary came from (for the verdict).
        summary: from :func:`read_ser_summary`.
        expect: the planned window and rate.

    Returns:
        The verdict with counts, first/last stamps, gaps and reasons.
    """
    base = SerCheck(path, frames=summary.frames, expected_frames=expect.expected_frames)
    problems = list(summary.problems)
    if summary.frames == 0 and not problems:
        problems.append("no frames")
    if problems or not summary.timestamps_ticks:
        return replace(base, problems=tuple(problems) or ("no per-frame timestamps",))
    ticks = np.asarray(summary.timestamps_ticks, dtype=np.int64)
    intervals = np.diff(ticks) / 1e7
    first, last = ticks_to_datetime(int(ticks[0])), ticks_to_datetime(int(ticks[-1]))
    exp = expect.exposure_s
    gap_mask = intervals > GAP_FACTOR * exp
    dropped = int(np.sum(np.rint(intervals[gap_mask] / exp) - 1))
    delay = (first - expect.record_start).total_seconds()
    slack = exp + expect.tolerance_s
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
    if summary.frames < expect.min_frame_fraction * wanted:
        problems.append(
            f"{summary.frames} frames where the rate ({exp:g} s) calls for about {wanted}"
        )
    elif summary.frames > 1.1 * wanted + 1:
        warnings.append(
            f"{summary.frames} frames, more than the {wanted} planned: exposure "
            "shorter than planned?"
        )
    if dropped:
        warnings.append(f"{dropped} dropped frames in {int(np.sum(gap_mask))} gaps")
    return replace(
        base,
        dropped_frames=dropped,
        gaps=int(np.sum(gap_mask)),
        first_frame_utc=first,
        last_frame_utc=last,
        start_delay_s=delay,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


def verify_ser(path: Path, expect: SerExpectation) -> SerCheck:
    """Read ``path`` and check it against ``expect``; an unreadable file is an invalid verdict."""
    try:
        summary = read_ser_summary(path)
    except OSError as exc:
        return SerCheck(
            path,
            expected_frames=expect.expected_frames,
            problems=(f"cannot read {path}: {exc.strerror or exc}",),
        )
    return check_timestamps(path, summary, expect)
