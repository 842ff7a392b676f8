"""Distances on a sphere (haversine, stable for small ones): on the sky, and on the Earth.

The one haversine of ekos-occult. Ground distances use the IUGG mean Earth radius
(:data:`EARTH_MEAN_RADIUS_KM`), good to 0.5 % anywhere: enough to compare two stated site
positions. The shadow geometry uses the WGS84 ellipsoid instead (:mod:`ekos_occult.plan.earthsky`).
"""

from __future__ import annotations

import math

__all__ = ["EARTH_MEAN_RADIUS_KM", "angular_separation_deg", "ground_distance_km"]

EARTH_MEAN_RADIUS_KM = 6371.0088
"""IUGG mean radius R1 of the Earth, km."""


def _central_angle(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Central angle (radians) between two points given in degrees (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * math.asin(min(1.0, math.sqrt(a)))


def angular_separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Angular distance between two sky positions (RA, Dec in degrees), in degrees."""
    return math.degrees(_central_angle(dec1, ra1, dec2, ra2))


def ground_distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two places (latitude, longitude in degrees), in km."""
    return EARTH_MEAN_RADIUS_KM * _central_angle(lat1, lon1, lat2, lon2)
