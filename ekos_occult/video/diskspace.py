"""Will a recording fit on the disk? Estimate its size and compare with the free space.

A SER file is a 178-byte header, ``frames × width × height × bytes per pixel × planes`` of
images and 8 bytes of timestamp per frame. The estimate rounds the frame count up and adds a
margin kept free for everything else (journal, Ekos control frames, the system).
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.errors import RecordingError
from ekos_occult.files import format_bytes

__all__ = [
    "FrameGeometry",
    "SER_OVERHEAD_BYTES",
    "DiskVerdict",
    "estimate_recording_bytes",
    "judge_space",
    "free_bytes",
]


@dataclass(frozen=True)
class FrameGeometry:
    """Size of one recorded frame: what the disk estimate multiplies by the frame count."""

    width: int
    height: int
    bytes_per_pixel: int
    planes: int = 1

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * self.bytes_per_pixel * self.planes


SER_OVERHEAD_BYTES = 178
SAFETY_FRAMES = 1.05
"""Frames are counted 5 % high: a stream can run a little faster than the nominal exposure."""


def estimate_recording_bytes(geometry: FrameGeometry, exposure_s: float, duration_s: float) -> int:
    """Size of one SER recording of ``duration_s`` at one frame per ``exposure_s``.

    Raises:
        ValueError: exposure or duration not positive.
    """
    if exposure_s <= 0 or duration_s <= 0:
        raise ValueError(f"exposure ({exposure_s}) and duration ({duration_s}) must be positive.")
    frames = math.ceil(duration_s / exposure_s * SAFETY_FRAMES) + 1
    return SER_OVERHEAD_BYTES + frames * (geometry.frame_bytes + 8)


@dataclass(frozen=True)
class DiskVerdict:
    """Free space against need.

    Attributes:
        needed_bytes: the estimated recording size.
        margin_bytes: space that must stay free beyond it.
        free_bytes: what the file system reports.
    """

    needed_bytes: int
    margin_bytes: int
    free_bytes: int

    @property
    def is_enough(self) -> bool:
        return self.free_bytes >= self.needed_bytes + self.margin_bytes

    @property
    def reason(self) -> str:
        """A sentence for the user (empty when there is enough space)."""
        if self.is_enough:
            return ""
        return (
            f"not enough free disk: the recording needs about {format_bytes(self.needed_bytes)} "
            f"plus a {format_bytes(self.margin_bytes)} margin, only "
            f"{format_bytes(self.free_bytes)} free; free some space or use a smaller ROI"
        )


def judge_space(needed_bytes: int, free: int, margin_bytes: int) -> DiskVerdict:
    """The verdict for a recording of ``needed_bytes`` with ``free`` bytes available (pure)."""
    return DiskVerdict(needed_bytes=needed_bytes, margin_bytes=margin_bytes, free_bytes=free)


def free_bytes(directory: Path) -> int:
    """Free bytes for an unprivileged user on the file system holding ``directory``.

    The nearest existing parent is asked when ``directory`` does not exist yet.

    Raises:
        RecordingError: the file system cannot be asked.
    """
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError as exc:
        raise RecordingError(f"Cannot read the free space of {probe}: {exc.strerror}.") from exc
