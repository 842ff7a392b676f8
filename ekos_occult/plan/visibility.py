"""Where each star and the Sun are during each recording window, for all events at once.

Computed with ERFA in :mod:`ekos_occult.plan.earthsky` (no astropy, no IERS tables): each star's
CIRS place once per event (at its window's centre, with the aberration and precession-nutation of
the nearest whole day: < 0.3"), then for every sample its hour angle from the Earth rotation
angle; the Sun's apparent place on the whole days around the samples, interpolated.
UT1 is taken as UTC (|UT1 − UTC| < 0.9 s moves an altitude by at most 0.004°) and polar motion
and diurnal aberration (< 0.5") are left out: against astropy's AltAz with the IERS tables the
altitudes agree within 0.0004° over 2025 (tests/plan/test_visibility.py checks a year of dates
against astropy to 0.01°, and tests/reference/ holds independent references). The time is
always an argument.

Sampling: each window is sampled at its start, centre and end and at most ``max_step_s`` (60 s)
apart. A star's altitude changes at most by the Earth's rotation (~0.25°/min) and its second
derivative is at most ω² ≈ 5.3e-9 rad/s², so the lowest altitude over a window (which lies between
samples only near lower culmination) is missed by at most ω²·step²/8 ≈ 0.0002° at a 60 s step.
The star's place of date is that of the window's centre: over a window of hours it moves by
less than 0.001° (aberration, precession). Altitudes are geometric (no refraction, as astroplan's
default Observer): at 20° refraction would lift the star by ~0.04°, a margin in our favour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from ekos_occult.model import OccultationEvent, Site, Visibility
from ekos_occult.plan.earthsky import (
    horizontal,
    local_era_rad,
    star_altaz,
    star_cirs,
    sun_altitude_deg,
)

__all__ = [
    "VisibilityBatch",
    "assess",
    "to_unix",
    "star_altaz",
    "sun_altitude_deg",
]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class VisibilityBatch:
    """One :class:`Visibility` per event, in input order, and notes per event (may be empty)."""

    visibilities: tuple[Visibility, ...]
    notes: tuple[tuple[str, ...], ...]


def to_unix(times: Sequence[datetime]) -> FloatArray:
    """Aware datetimes → POSIX seconds (float64; ~1 µs resolution, ample here)."""
    return np.fromiter((t.timestamp() for t in times), dtype=np.float64, count=len(times))


def _samples(
    start_s: FloatArray, duration_s: FloatArray, max_step_s: float
) -> tuple[FloatArray, NDArray[np.intp], NDArray[np.intp]]:
    """Flat sample times over every window, the event index of each, and each window's offset.

    Every window gets an odd number (≥ 3) of evenly spaced samples, at most ``max_step_s`` apart,
    so the centre is a sample.
    """
    counts = 2 * np.ceil(duration_s / (2.0 * max_step_s)).astype(np.intp) + 1
    counts = np.maximum(counts, 3)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp)
    owner = np.repeat(np.arange(len(counts), dtype=np.intp), counts)
    position = np.arange(int(counts.sum()), dtype=np.intp) - offsets[owner]
    fraction = position / (counts[owner] - 1)
    times = start_s[owner] + fraction * duration_s[owner]
    return times, owner, offsets


def assess(
    events: Sequence[OccultationEvent], site: Site, *, max_step_s: float = 60.0
) -> VisibilityBatch:
    """Star and Sun positions over every event's recording window.

    Args:
        events: the events (any order; results follow it).
        site: where the observer is.
        max_step_s: the longest gap between samples within a window.

    Returns:
        For each event: altitude, azimuth and Sun altitude at the window's centre, the lowest star
        altitude and the highest Sun altitude over the window; plus notes (none today).
    """
    if not events:
        return VisibilityBatch((), ())
    start = to_unix([e.record_start for e in events])
    duration = to_unix([e.record_end for e in events]) - start
    times, owner, offsets = _samples(start, duration, max_step_s)
    ra = np.fromiter((e.ra_deg for e in events), dtype=np.float64, count=len(events))
    dec = np.fromiter((e.dec_deg for e in events), dtype=np.float64, count=len(events))
    ri, di = star_cirs(ra, dec, start + duration / 2.0)  # once per event
    alt, az = horizontal(site, local_era_rad(site, times) - ri[owner], di[owner])
    sun = sun_altitude_deg(site, times)
    centre = offsets + (np.diff(np.append(offsets, len(times))) // 2)
    min_alt = np.minimum.reduceat(alt, offsets)
    max_sun = np.maximum.reduceat(sun, offsets)
    visibilities = tuple(
        Visibility(
            altitude_deg=a,
            azimuth_deg=z,
            sun_altitude_deg=s,
            min_altitude_deg=lo,
            max_sun_altitude_deg=hi,
        )
        for a, z, s, lo, hi in zip(
            alt[centre].tolist(),
            az[centre].tolist(),
            sun[centre].tolist(),
            min_alt.tolist(),
            max_sun.tolist(),
            strict=True,
        )
    )
    return VisibilityBatch(visibilities, ((),) * len(events))
