"""Earth orientation and sky positions for the station geometry, with ERFA (vectorised, offline).

Greenwich apparent sidereal time, the site's geocentric coordinates on the WGS84 ellipsoid, the
star's apparent place of date (when a file lacks it), geometric altitude/azimuth and the Sun's
altitude. Times are POSIX seconds (UTC) in numpy arrays; no astropy Time, no IERS tables: UT1 − UTC
is an argument (0 by default, as predictions are made ahead of time).
"""

from __future__ import annotations

import math
import warnings

import erfa
import numpy as np
from numpy.typing import NDArray

from ekos_occult.model import Site

__all__ = [
    "EARTH_RADIUS_KM",
    "FLATTENING",
    "SIDEREAL_RATE_RAD_PER_H",
    "jd_pair",
    "gast_rad",
    "site_rho",
    "apparent_place",
    "horizontal",
    "star_cirs",
    "local_era_rad",
    "star_altaz",
    "sun_cirs",
    "sun_altitude_deg",
]

FloatArray = NDArray[np.float64]

EARTH_RADIUS_KM = 6378.137  # WGS84 equatorial radius, also the unit of the elements' X, Y
FLATTENING = 1.0 / 298.257223563
SIDEREAL_RATE_RAD_PER_H = 2.0 * math.pi * 1.00273781191135448 / 24.0
_UNIX_EPOCH_JD = 2440587.5
_TT_UTC_S = 69.184  # TT − UTC since 2017 (32.184 s + 37 leap seconds)
_AU_KM = 149597870.7


def jd_pair(unix_s: FloatArray) -> tuple[FloatArray, FloatArray]:
    days = np.asarray(unix_s, dtype=np.float64) / 86400.0
    whole = np.floor(days)
    return _UNIX_EPOCH_JD + whole, days - whole


def gast_rad(unix_s: FloatArray, ut1_utc_s: float = 0.0) -> FloatArray:
    """Greenwich apparent sidereal time (radians) at UTC instants, by ERFA ``gst00b``.

    IAU 2000B nutation: within 1.2 mas (4 cm on the ground) of the full IAU 2006/2000A model
    and fifteen times faster, which matters for feeds of thousands of events.

    Args:
        unix_s: POSIX seconds (UTC).
        ut1_utc_s: UT1 − UTC in seconds (0 by default: predictions are made ahead of time).
    """
    ut1a, ut1b = jd_pair(np.asarray(unix_s, dtype=np.float64) + ut1_utc_s)
    return np.asarray(erfa.gst00b(ut1a, ut1b), dtype=np.float64)


def site_rho(site: Site) -> tuple[float, float]:
    """The site's ``ρcosφ′`` and ``ρsinφ′`` (geocentric, Earth equatorial radii, WGS84)."""
    phi = math.radians(site.lat_deg)
    b_over_a = 1.0 - FLATTENING
    c = 1.0 / math.sqrt(math.cos(phi) ** 2 + (b_over_a * math.sin(phi)) ** 2)
    s = b_over_a**2 * c
    h = site.elevation_m / 1000.0 / EARTH_RADIUS_KM
    return (c + h) * math.cos(phi), (s + h) * math.sin(phi)


def apparent_place(
    ra_deg: FloatArray, dec_deg: FloatArray, unix_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Apparent RA/Dec of date (radians, equinox-based) from ICRS positions at the event epoch.

    Used only when a file lacks ``Star`` fields 9-10: ERFA ``atci13`` (ICRS → CIRS: light
    deflection, annual aberration, precession-nutation) then ``RA = RA_CIRS − EO``.
    """
    unix = np.asarray(unix_s, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", erfa.ErfaWarning)
        utc1, utc2 = jd_pair(unix)
        iy, im, iday, frac = erfa.jd2cal(utc1, utc2)
        tai_utc = erfa.dat(iy, im, iday, frac)
    tdb1, tdb2 = jd_pair(unix + tai_utc + 32.184)  # TT; TDB − TT < 2 ms does not matter
    zeros = np.zeros_like(unix)
    ri, di, eo = erfa.atci13(
        np.radians(ra_deg), np.radians(dec_deg), zeros, zeros, zeros, zeros, tdb1, tdb2
    )
    return np.asarray(erfa.anp(ri - eo), dtype=np.float64), np.asarray(di, dtype=np.float64)


def horizontal(
    site: Site, hour_angle: FloatArray, dec: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Geometric altitude and azimuth (degrees, azimuth from north through east) at the site.

    From the apparent place of date and the local hour angle, with the geodetic latitude (the
    vertical of the ellipsoid). Against astropy's AltAz this differs by arcseconds (polar motion,
    diurnal aberration, parallax of the Sun): far below what the plan's limits need.
    """
    phi = math.radians(site.lat_deg)
    sin_alt = math.sin(phi) * np.sin(dec) + math.cos(phi) * np.cos(dec) * np.cos(hour_angle)
    alt = np.degrees(np.arcsin(np.clip(sin_alt, -1.0, 1.0)))
    az = (
        np.degrees(
            np.arctan2(
                -np.cos(dec) * np.sin(hour_angle),
                np.sin(dec) * math.cos(phi) - np.cos(dec) * math.sin(phi) * np.cos(hour_angle),
            )
        )
        % 360.0
    )
    return np.asarray(alt, dtype=np.float64), np.asarray(az, dtype=np.float64)


def _distinct(values: FloatArray) -> FloatArray:
    """Sorted distinct values (``np.unique`` without its first-call import of numpy.ma)."""
    ordered = np.sort(values)
    keep = np.ones(ordered.size, dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def _astrom_on_days(days: FloatArray) -> NDArray[np.void]:
    """ERFA's star-independent astrometry (``apci13``: Earth's barycentric position and velocity,
    the Sun's distance, the bias-precession-nutation matrix of the CIRS) at whole UTC days.

    ``days`` are day numbers since 1970-01-01 (whole or not). TT − UTC is taken as 69.184 s (its
    value since 2017): a few seconds either way move nothing here by a milliarcsecond.
    """
    tt1, tt2 = jd_pair(np.asarray(days, dtype=np.float64) * 86400.0 + _TT_UTC_S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", erfa.ErfaWarning)  # dates beyond 1900-2100
        astrom, _eo = erfa.apci13(tt1, tt2)
    return np.asarray(astrom)


def star_cirs(
    ra_deg: FloatArray, dec_deg: FloatArray, unix_s: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """A star's CIRS right ascension and declination (radians) from its ICRS place (J2000).

    ERFA ``atciq`` (light deflection, annual aberration, bias-precession-nutation) with the
    astrometry of the whole UTC day nearest to each time: half a day of the Earth's motion
    changes the aberration by ≤ 0.2" and precession-nutation by ≤ 0.1", so one ``apci13`` per
    distinct day (not per time) serves a year-long feed. Arrays broadcast together.
    """
    ra, dec, unix = np.broadcast_arrays(
        np.radians(np.asarray(ra_deg, dtype=np.float64)),
        np.radians(np.asarray(dec_deg, dtype=np.float64)),
        np.asarray(unix_s, dtype=np.float64),
    )
    if ra.size == 0:
        return np.empty(ra.shape), np.empty(ra.shape)
    grid, inverse = np.unique(np.round(unix / 86400.0), return_inverse=True)
    astrom = _astrom_on_days(grid)[inverse.reshape(-1)]
    zeros = np.zeros(ra.size)
    ri, di = erfa.atciq(ra.reshape(-1), dec.reshape(-1), zeros, zeros, zeros, zeros, astrom)
    return (
        np.asarray(ri, dtype=np.float64).reshape(ra.shape),
        np.asarray(di, dtype=np.float64).reshape(ra.shape),
    )


def local_era_rad(site: Site, unix_s: FloatArray, ut1_utc_s: float = 0.0) -> FloatArray:
    """The Earth rotation angle plus the site's east longitude (radians): the local hour angle
    of a CIRS right ascension of 0. UT1 is UTC + ``ut1_utc_s`` (|UT1 − UTC| < 0.9 s moves an
    altitude by at most 0.004°)."""
    ut1a, ut1b = jd_pair(np.asarray(unix_s, dtype=np.float64) + ut1_utc_s)
    return np.asarray(erfa.era00(ut1a, ut1b), dtype=np.float64) + math.radians(site.lon_deg)


def star_altaz(
    site: Site,
    ra_deg: FloatArray,
    dec_deg: FloatArray,
    unix_s: FloatArray,
    ut1_utc_s: float = 0.0,
) -> tuple[FloatArray, FloatArray]:
    """Geometric altitude and azimuth (degrees) of stars (ICRS, degrees) at times (POSIX s).

    Arrays broadcast together (pairs of equal length, or ``(M, 1)`` stars and ``(T,)`` times).
    For many times per star, :func:`star_cirs` once per star and :func:`local_era_rad` per time
    is cheaper: this is the convenience form.
    """
    ri, di = star_cirs(ra_deg, dec_deg, unix_s)
    return horizontal(site, local_era_rad(site, unix_s, ut1_utc_s) - ri, di)


def sun_cirs(unix_s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The Sun's apparent geocentric CIRS RA, Dec (radians) and distance (au) at times.

    From ``apci13`` at the whole UTC days around the times: the Sun's direction (the Earth's
    heliocentric position reversed), annual aberration (ERFA ``ab``), rotated into the CIRS;
    then interpolated linearly between the days (the Sun moves ~1°/day along an arc: the
    interpolated direction errs by < 0.0001°).
    """
    unix = np.asarray(unix_s, dtype=np.float64)
    days = unix / 86400.0
    whole = np.floor(days)
    grid = _distinct(np.concatenate([whole.ravel(), whole.ravel() + 1.0]))
    astrom = _astrom_on_days(grid)
    towards_sun = -np.asarray(astrom["eh"], dtype=np.float64)
    distance = np.asarray(astrom["em"], dtype=np.float64)
    apparent = erfa.ab(towards_sun, astrom["v"], distance, astrom["bm1"])
    cirs = np.einsum("nij,nj->ni", astrom["bpn"], apparent)
    vec = [np.interp(days, grid, cirs[:, k]) for k in range(3)]
    ra = np.arctan2(vec[1], vec[0])
    dec = np.arctan2(vec[2], np.hypot(vec[0], vec[1]))
    return ra, dec, np.interp(days, grid, distance)


def sun_altitude_deg(site: Site, unix_s: FloatArray, ut1_utc_s: float = 0.0) -> FloatArray:
    """The Sun's apparent topocentric altitude (degrees, no refraction) at the site.

    :func:`sun_cirs` referred to the local Earth rotation angle, then the Sun's parallax
    (8.8" × cos alt) taken off. Polar motion and diurnal aberration (< 0.5") are left out.
    Against astropy's ``get_sun`` in AltAz this agrees within ~0.001° (UT1 − UTC aside).
    """
    unix = np.asarray(unix_s, dtype=np.float64)
    ra, dec, distance = sun_cirs(unix)
    alt, _ = horizontal(site, local_era_rad(site, unix, ut1_utc_s) - ra, dec)
    parallax = np.degrees(EARTH_RADIUS_KM / (distance * _AU_KM)) * np.cos(np.radians(alt))
    return np.asarray(alt - parallax, dtype=np.float64)
