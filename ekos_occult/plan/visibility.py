"""Where each star and the Sun are during each recording window, for all events at once.

The site is an astroplan :class:`~astroplan.Observer`; the positions come from one vectorised
``Observer.altaz`` call over a flat array of (time, star) pairs covering every event's window, and
one ``Observer.sun_altaz`` call over the distinct minutes those windows touch. The time is always
an argument; astropy :class:`~astropy.time.Time` does not leave this module.

Sampling: each window is sampled at its start, centre and end and at most ``max_step_s`` (60 s)
apart. A star's altitude changes at most by the Earth's rotation (~0.25°/min) and its second
derivative is at most ω² ≈ 5.3e-9 rad/s², so the lowest altitude over a window (which lies between
samples only near lower culmination) is missed by at most ω²·step²/8 ≈ 0.0002° at a 60 s step. The
Sun's altitude is computed on the whole-minute grid and interpolated linearly (same bound).
Altitudes are geometric (no refraction, as astroplan's default Observer): at 20° refraction would
lift the star by ~0.04°, a margin in our favour.

Dates beyond the IERS tables bundled with astropy (or the leap-second table) are planned with
astropy's default Earth orientation: the warnings astropy and ERFA give for that are caught here
on purpose and turned into a note on the events concerned; any other warning is re-raised.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from astroplan import Observer
from astropy import units as u
from astropy.coordinates import EarthLocation, SkyCoord
from astropy.coordinates.erfa_astrom import ErfaAstromInterpolator, erfa_astrom
from astropy.time import Time
from astropy.utils import iers
from astropy.utils.exceptions import AstropyWarning
from erfa import ErfaWarning
from numpy.typing import NDArray

from ekos_occult.model import OccultationEvent, Site, Visibility

__all__ = [
    "VisibilityBatch",
    "IERS_NOTE",
    "observer_for",
    "assess",
    "to_unix",
    "star_altaz",
    "sun_altitude_deg",
    "is_beyond_iers",
]

FloatArray = NDArray[np.float64]

# Interpolating the slowly varying astrometry (precession-nutation, Earth position) on a 5-minute
# grid changes positions by well under an arcsecond and makes the transform ~30x faster.
_ASTROM_RESOLUTION = 300 * u.s

IERS_NOTE = (
    "beyond the IERS Earth-orientation tables bundled with astropy: planned with default polar "
    "motion and UT1 (positions good to ~0.01°, enough for the altitude and Sun limits)"
)


@dataclass(frozen=True)
class VisibilityBatch:
    """One :class:`Visibility` per event, in input order, and notes per event (may be empty)."""

    visibilities: tuple[Visibility, ...]
    notes: tuple[tuple[str, ...], ...]


def observer_for(site: Site) -> Observer:
    """The astroplan Observer at the site (no pressure given, so no refraction)."""
    location = EarthLocation.from_geodetic(
        lon=site.lon_deg * u.deg, lat=site.lat_deg * u.deg, height=site.elevation_m * u.m
    )
    return Observer(location=location, name=str(site))


def to_unix(times: Sequence[datetime]) -> FloatArray:
    """Aware datetimes → POSIX seconds (float64; ~1 µs resolution, ample here)."""
    return np.fromiter((t.timestamp() for t in times), dtype=np.float64, count=len(times))


def _time(unix_s: FloatArray) -> Time:
    return Time(unix_s, format="unix", scale="utc")


def _is_iers_limit(w: warnings.WarningMessage) -> bool:
    text = str(w.message)
    if issubclass(w.category, ErfaWarning):
        return "dubious year" in text
    if issubclass(w.category, AstropyWarning):
        return "IERS" in text or "polar motion" in text
    return False


@contextmanager
def _tolerating_iers_limits() -> Iterator[None]:
    """Swallow exactly the "outside the bundled tables" warnings; re-issue every other one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if not _is_iers_limit(w):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def is_beyond_iers(unix_s: FloatArray) -> NDArray[np.bool_]:
    """True where a time is outside the bundled Earth-orientation table."""
    table = iers.earth_orientation_table.get()
    with _tolerating_iers_limits():
        _, _, status = table.pm_xy(_time(unix_s), return_status=True)
    return np.asarray(status) < 0


def star_altaz(
    observer: Observer, ra_deg: FloatArray, dec_deg: FloatArray, unix_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Altitude and azimuth (degrees) of stars at times, in one transform.

    ``ra_deg``/``dec_deg`` and ``unix_s`` are broadcast together (pairs of equal length, or
    shapes ``(M, 1)`` and ``(T,)`` for an M×T grid).
    """
    with _tolerating_iers_limits(), erfa_astrom.set(ErfaAstromInterpolator(_ASTROM_RESOLUTION)):
        stars = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg, frame="icrs")
        altaz = observer.altaz(_time(unix_s), stars)
        alt = np.asarray(altaz.alt.deg, dtype=np.float64)
        az = np.asarray(altaz.az.deg, dtype=np.float64)
    return alt, az


def sun_altitude_deg(observer: Observer, unix_s: FloatArray) -> FloatArray:
    """The Sun's altitude (degrees) at each time, from one computation on whole minutes.

    The Sun is computed at the distinct whole minutes bracketing the times and interpolated
    linearly: the error is below 0.001°, and a night of 10 000 windows needs only ~700 positions.
    """
    minutes = np.floor(np.asarray(unix_s, dtype=np.float64) / 60.0)
    grid = np.unique(np.concatenate([minutes.ravel(), minutes.ravel() + 1.0])) * 60.0
    with _tolerating_iers_limits(), erfa_astrom.set(ErfaAstromInterpolator(_ASTROM_RESOLUTION)):
        sun = np.asarray(observer.sun_altaz(_time(grid)).alt.deg, dtype=np.float64)
    return np.asarray(np.interp(unix_s, grid, sun), dtype=np.float64)


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
        altitude and the highest Sun altitude over the window; plus notes (e.g. beyond IERS).
    """
    if not events:
        return VisibilityBatch((), ())
    observer = observer_for(site)
    start = to_unix([e.record_start for e in events])
    duration = to_unix([e.record_end for e in events]) - start
    times, owner, offsets = _samples(start, duration, max_step_s)
    ra = np.array([e.ra_deg for e in events], dtype=np.float64)
    dec = np.array([e.dec_deg for e in events], dtype=np.float64)
    alt, az = star_altaz(observer, ra[owner], dec[owner], times)
    sun = sun_altitude_deg(observer, times)
    centre = offsets + (np.diff(np.append(offsets, len(times))) // 2)
    min_alt = np.minimum.reduceat(alt, offsets)
    max_sun = np.maximum.reduceat(sun, offsets)
    beyond = is_beyond_iers(times[centre])
    visibilities = tuple(
        Visibility(
            altitude_deg=float(a),
            azimuth_deg=float(z),
            sun_altitude_deg=float(s),
            min_altitude_deg=float(lo),
            max_sun_altitude_deg=float(hi),
        )
        for a, z, s, lo, hi in zip(
            alt[centre], az[centre], sun[centre], min_alt, max_sun, strict=True
        )
    )
    notes = tuple((IERS_NOTE,) if b else () for b in beyond)
    return VisibilityBatch(visibilities, notes)
