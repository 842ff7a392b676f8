"""The light-curve record: one row per frame, the target's and reference stars' signals.

A :class:`LightCurve` holds one row per frame: frame number, the start-of-exposure time of the
frame (seconds since :attr:`LightCurve.epoch`) and one :class:`Aperture` per measured star, the
target first. Files in and out: :mod:`ekos_occult.reduce.lightcurve_read` (PyMovie, R-OTE/PyOTE,
Tangra CSV; SORA ``.dat``) and :mod:`ekos_occult.reduce.lightcurve_write` (PyMovie CSV, what
PyOTE reads). Timestamp health (dropped frames, bad stamps): :mod:`ekos_occult.reduce.cadence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

import numpy as np
import numpy.typing as npt

__all__ = ["TimestampSource", "Aperture", "LightCurve", "EXTRA_COLUMNS", "FloatArray"]

FloatArray = npt.NDArray[np.float64]
EXTRA_COLUMNS = ("appsum", "avgbkg", "stdbkg", "nmaskpx", "maxpx", "xcentroid", "ycentroid")
"""PyMovie's optional per-aperture columns, named ``<column>-<aperture>`` in its CSV."""


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
