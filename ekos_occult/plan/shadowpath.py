"""The shadow path on the ground: fundamental-plane points → geodetic latitude/longitude.

A point ``(x, y)`` of the fundamental plane stands for the line through it parallel to the star's
direction; where that line first meets the WGS84 ellipsoid (on the side facing the star) is the
ground point. With the star's apparent place ``(α, δ)`` of date, the axes of the plane in the
equatorial frame of date are ``ê = (−sin α, cos α, 0)`` (east), ``n̂ = (−sin δ cos α,
−sin δ sin α, cos δ)`` (north) and ``ŝ`` towards the star; the ground point ``P = x ê + y n̂ + z ŝ``
solves ``Px² + Py² + Pz²/(1 − f)² = 1`` for the larger ``z``. Its longitude is
``atan2(Py, Px) − GAST``, its geodetic latitude ``atan(Pz / ((1 − f)² √(Px² + Py²)))``. This is the
inverse of :func:`ekos_occult.plan.geometry.fundamental_coords` for a point at height 0.

Used for the ``predictions --map`` chart and to place test stations across a real path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ekos_occult.plan.earthsky import (
    EARTH_RADIUS_KM,
    FLATTENING,
    SIDEREAL_RATE_RAD_PER_H,
    apparent_place,
    gast_rad,
)
from ekos_occult.plan.occelmnt import Prediction

__all__ = ["PathLines", "fundamental_to_geodetic", "shadow_point", "path_lines"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class PathLines:
    """Ground tracks of lines parallel to the centre line (degrees; NaN off the Earth).

    ``offsets_km[k]`` is the cross-track offset of ``lat_deg[k]``/``lon_deg[k]`` (0 = centre line;
    positive to the left of the shadow's motion, as in :mod:`ekos_occult.plan.geometry`).
    """

    t_hours: FloatArray
    offsets_km: tuple[float, ...]
    lat_deg: FloatArray  # (len(offsets_km), len(t_hours))
    lon_deg: FloatArray


def fundamental_to_geodetic(
    x: FloatArray, y: FloatArray, gast: FloatArray, ra: FloatArray, dec: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Ground point (geodetic lat, east lon in degrees) under fundamental-plane points.

    Args:
        x, y: fundamental-plane coordinates (Earth equatorial radii).
        gast: Greenwich apparent sidereal time (radians).
        ra, dec: the star's apparent place of date (radians).

    Returns:
        Latitude and longitude (degrees, longitude in [-180, 180)); NaN where the line misses.
    """
    sa, ca, sd, cd = np.sin(ra), np.cos(ra), np.sin(dec), np.cos(dec)
    p0 = np.stack([-sa * x - sd * ca * y, ca * x - sd * sa * y, cd * y])
    s = np.stack([cd * ca, cd * sa, sd * np.ones_like(x)])
    k = 1.0 / (1.0 - FLATTENING) ** 2

    def q(v: FloatArray, w: FloatArray) -> FloatArray:
        return np.asarray(v[0] * w[0] + v[1] * w[1] + k * v[2] * w[2], dtype=np.float64)

    qa, qb, qc = q(s, s), q(p0, s), q(p0, p0) - 1.0
    disc = qb * qb - qa * qc
    with np.errstate(invalid="ignore"):
        z = (-qb + np.sqrt(disc)) / qa
    p = p0 + z * s
    lon = np.degrees(np.arctan2(p[1], p[0]) - gast)
    lon = (lon + 180.0) % 360.0 - 180.0
    lat = np.degrees(np.arctan2(p[2], np.hypot(p[0], p[1]) / k))
    miss = ~(disc >= 0.0)
    return np.where(miss, np.nan, lat), np.where(miss, np.nan, lon)


def _star(p: Prediction) -> tuple[float, float]:
    if p.star.apparent_ra_hours is not None and p.star.apparent_dec_deg is not None:
        return float(np.radians(p.star.apparent_ra_hours * 15.0)), float(
            np.radians(p.star.apparent_dec_deg)
        )
    ra, dec = apparent_place(
        np.array([p.star.ra_hours * 15.0]),
        np.array([p.star.dec_deg]),
        np.array([p.elements.closest_approach.timestamp()]),
    )
    return float(ra[0]), float(dec[0])


def shadow_point(
    p: Prediction, t_hours: FloatArray, offset_km: FloatArray | float = 0.0
) -> tuple[FloatArray, FloatArray]:
    """Ground points at ``offset_km`` across the centre line at ``t_hours`` from closest approach.

    The offset is taken along the left normal of the shadow's velocity on the fundamental plane.
    """
    e = p.elements
    t = np.asarray(t_hours, dtype=np.float64)
    x = e.x + t * (e.dx + t * (e.d2x + t * e.d3x))
    y = e.y + t * (e.dy + t * (e.d2y + t * e.d3y))
    vx = e.dx + t * (2.0 * e.d2x + 3.0 * t * e.d3x)
    vy = e.dy + t * (2.0 * e.d2y + 3.0 * t * e.d3y)
    speed = np.hypot(vx, vy)
    shift = np.asarray(offset_km, dtype=np.float64) / EARTH_RADIUS_KM
    x, y = x - shift * vy / speed, y + shift * vx / speed
    gast = gast_rad(np.array([e.closest_approach.timestamp()]))[0] + SIDEREAL_RATE_RAD_PER_H * t
    ra, dec = _star(p)
    return fundamental_to_geodetic(x, y, gast, np.full_like(x, ra), np.full_like(x, dec))


def path_lines(p: Prediction, t_hours: FloatArray, offsets_km: tuple[float, ...]) -> PathLines:
    """The ground tracks of the centre line and of lines offset across it (e.g. the limits)."""
    t = np.asarray(t_hours, dtype=np.float64)
    lats, lons = zip(*(shadow_point(p, t, off) for off in offsets_km), strict=True)
    return PathLines(t, tuple(offsets_km), np.vstack(lats), np.vstack(lons))
