"""Where the shadow passes one station: local central time, cross-track offset, speed, duration.

The method (Besselian elements for asteroid occultations): the star is at infinity, so the shadow
is a cylinder parallel to the star's direction. On the *fundamental plane* — through the Earth's
centre, perpendicular to the star's apparent direction of date (``Star`` fields 9-10, or ERFA's
apparent place of fields 1-2 when a file lacks them) — the shadow
centre is at ``X(t), Y(t)`` (cubic polynomials in hours from the geocentric closest approach, in
Earth equatorial radii; ``X`` east, ``Y`` north). The station, rotating with the Earth, projects to
``(ξ, η)`` with ``ζ`` towards the star::

    H = GAST + λ − α                   (hour angle of the star, UT1 taken as UTC)
    ξ = ρcosφ′·sin H
    η = ρsinφ′·cos δ − ρcosφ′·sin δ·cos H
    ζ = ρsinφ′·sin δ + ρcosφ′·cos δ·cos H

with ``ρcosφ′``, ``ρsinφ′`` the site's geocentric coordinates on the WGS84 ellipsoid (equatorial
radius 6378.137 km is also the unit of ``X, Y``). The local central time minimises
``|(X − ξ, Y − η)|``, all events at once as numpy arrays: a coarse scan over ±4 h (times with the
star up preferred), then Gauss-Newton on ``t``, which converges in a few steps to well under a
millisecond (a golden-section search covers shadows slower than the Earth's rotation). GAST
comes from ERFA (IAU 2000B) at the closest approach and advances at the sidereal rate,
1.00273781191135448 turns per UT1 day (the equation of the equinoxes moves by microseconds in
hours). UT1 is taken as UTC, as Occult does for the
``Earth`` substellar longitude (the real file agrees to 0.0001°); |UT1 − UTC| < 0.9 s would shift
the station by at most 0.4 km.

**Sign convention of the cross-track offset**: positive when the station is to the *left* of the
shadow's motion (relative to the station) as seen on the fundamental plane from the star — a view
with north up and east to the right, like a map. For a shadow moving east, positive is north of
the centre line; moving west, positive is south. :attr:`StationGeometry.side` names the side in
words (north/south, or east/west for paths running north-south).

**Speeds**: ``shadow_speed_km_s`` is the shadow's speed on the fundamental plane at the local
central time; ``relative_speed_km_s`` is the speed relative to the station (the Earth's rotation
included), which sets the station's event duration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
from numpy.typing import NDArray

from ekos_occult.model import Site
from ekos_occult.plan.earthsky import (
    EARTH_RADIUS_KM,
    SIDEREAL_RATE_RAD_PER_H,
    apparent_place,
    gast_rad,
    horizontal,
    site_rho,
    sun_altitude_deg,
)
from ekos_occult.plan.occelmnt import Prediction

__all__ = [
    "SELF_CHECK_TOLERANCE",
    "StationGeometry",
    "station_geometry",
    "fundamental_coords",
    "path_sigma_km",
    "km_per_arcsec",
]

FloatArray = NDArray[np.float64]

SELF_CHECK_TOLERANCE = 0.05  # max duration vs diameter ÷ speed: relative difference allowed
_AU_KM = 149597870.7
_ARCSEC_PER_RAD = 206264.80624709636
_MAX_ITERATIONS = 30
_TOLERANCE_H = 1e-8  # 36 µs
_SCAN_H = 4.0  # the scan for the closest approach covers ±4 h around the geocentric one
_SCAN_POINTS = 121  # 4-minute steps
_SCAN_STEP_H = 2.0 * _SCAN_H / (_SCAN_POINTS - 1)
_SCAN_CHUNK = 1000  # events per chunk of the scan (121 × 1000 × 8 B per array)
_GOLDEN_ITERATIONS = 60  # (0.618)^60 × 8 min ≈ 1e-10 h


@dataclass(frozen=True)
class StationGeometry:
    """One event as seen from one station.

    Attributes:
        central_time: local central time (UTC): the shadow centre's closest approach.
        offset_km: signed cross-track distance from the centre line (see module doc for sign).
        side: the side of the centre line in words (``north``, ``south``, ``east``, ``west``).
        in_path: the station is inside the shadow path (|offset| < diameter/2) and the star is
            above its horizon.
        in_1sigma: inside the path widened by the 1-sigma path uncertainty on each side.
        sigma_path_km: 1-sigma cross-track uncertainty of the path (None if the file has none).
        star_alt_deg, star_az_deg, sun_alt_deg: at the central time (geometric, no refraction).
        shadow_speed_km_s: on the fundamental plane at the central time.
        relative_speed_km_s: relative to the station (Earth rotation included).
        max_duration_s: the station's duration on the centre line: diameter ÷ relative speed.
        chord_duration_s: the predicted duration at this station (0 outside the path).
        file_max_duration_s: ``Elements`` field 1 as given (None if absent).
        check_duration_s: the self-check value, diameter ÷ fundamental-plane speed at the
            geocentric closest approach (what field 1 should be).
        converged: the central-time search converged.
        warnings: sentences for the user (self-check failure, no convergence).
    """

    central_time: datetime
    offset_km: float
    side: str
    in_path: bool
    in_1sigma: bool
    sigma_path_km: float | None
    star_alt_deg: float
    star_az_deg: float
    sun_alt_deg: float
    shadow_speed_km_s: float
    relative_speed_km_s: float
    max_duration_s: float
    chord_duration_s: float
    file_max_duration_s: float | None
    check_duration_s: float
    converged: bool = True
    warnings: tuple[str, ...] = ()

    @property
    def star_visible(self) -> bool:
        """The star is above the station's (geometric) horizon at the central time."""
        return self.star_alt_deg > 0.0


def _unix(t: datetime) -> float:
    return t.timestamp()


def fundamental_coords(
    rho_cos: float, rho_sin: float, hour_angle: FloatArray, dec: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The station's ``(ξ, η, ζ)`` on the fundamental plane (radians in, Earth radii out)."""
    sin_h, cos_h = np.sin(hour_angle), np.cos(hour_angle)
    sin_d, cos_d = np.sin(dec), np.cos(dec)
    xi = rho_cos * sin_h
    eta = rho_sin * cos_d - rho_cos * sin_d * cos_h
    zeta = rho_sin * sin_d + rho_cos * cos_d * cos_h
    return xi, eta, zeta


def km_per_arcsec(distance_au: float) -> float:
    """Kilometres subtended by one arcsecond at the body's distance."""
    return distance_au * _AU_KM / _ARCSEC_PER_RAD


def path_sigma_km(p: Prediction) -> float | None:
    """The 1-sigma cross-track uncertainty of the path (km), from ``<Errors>``.

    ``Errors`` field 0 is the path position uncertainty in path widths, stored as 1 + σ/width
    (values just above 1 are typical; the fixed-format help calls it the location of the 1-sigma
    limit). On the real Cucula file, 1.030 × 47.9 km gives σ = 1.44 km, and projecting the 1-sigma
    error ellipse (fields 1-3, arcsec at the body's distance) across the path gives 1.40 km.
    Without field 0 the ellipse projection is used, then field 4 (1-sigma position).
    """
    e, obj = p.errors, p.object
    if e.path_widths is not None and e.path_widths >= 1.0:
        return (e.path_widths - 1.0) * obj.diameter_km
    if obj.distance_au is None or obj.distance_au <= 0:
        return None
    scale = km_per_arcsec(obj.distance_au)
    if e.major_arcsec is not None and e.minor_arcsec is not None and e.pa_deg is not None:
        motion_pa = math.atan2(p.elements.dx, p.elements.dy)  # X east, Y north
        theta = math.radians(e.pa_deg) - (motion_pa + math.pi / 2.0)
        return scale * math.hypot(
            e.major_arcsec * math.cos(theta), e.minor_arcsec * math.sin(theta)
        )
    if e.position_sigma_arcsec is not None:
        return scale * e.position_sigma_arcsec
    return None


@dataclass(frozen=True)
class _Batch:
    """The elements of N events as arrays (one entry per event)."""

    t0_unix: FloatArray
    coeff_x: FloatArray  # (N, 4): X, dX, d2X, d3X
    coeff_y: FloatArray
    ra: FloatArray  # apparent of date, radians
    dec: FloatArray
    diameter_km: FloatArray


def _batch(predictions: Sequence[Prediction]) -> _Batch:
    t0 = np.array([_unix(p.elements.closest_approach) for p in predictions], dtype=np.float64)
    cx = np.array(
        [(p.elements.x, p.elements.dx, p.elements.d2x, p.elements.d3x) for p in predictions],
        dtype=np.float64,
    ).reshape(-1, 4)
    cy = np.array(
        [(p.elements.y, p.elements.dy, p.elements.d2y, p.elements.d3y) for p in predictions],
        dtype=np.float64,
    ).reshape(-1, 4)
    ra = np.array(
        [
            np.nan if p.star.apparent_ra_hours is None else p.star.apparent_ra_hours * 15
            for p in predictions
        ],
        dtype=np.float64,
    )
    dec = np.array(
        [
            np.nan if p.star.apparent_dec_deg is None else p.star.apparent_dec_deg
            for p in predictions
        ],
        dtype=np.float64,
    )
    missing = np.isnan(ra) | np.isnan(dec)
    ra, dec = np.radians(ra), np.radians(dec)
    if missing.any():
        icrs_ra = np.array([p.star.ra_hours * 15 for p in predictions])[missing]
        icrs_dec = np.array([p.star.dec_deg for p in predictions])[missing]
        ra[missing], dec[missing] = apparent_place(icrs_ra, icrs_dec, t0[missing])
    diameter = np.array([p.object.diameter_km for p in predictions], dtype=np.float64)
    return _Batch(t0, cx, cy, ra, dec, diameter)


def _poly(c: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Value and first derivative (per hour) of the cubic with coefficients ``c`` at ``t``.

    ``t`` has shape (N,) or (N, K): one row of times per event.
    """
    c0, c1, c2, c3 = (c[:, k].reshape((-1,) + (1,) * (t.ndim - 1)) for k in range(4))
    value = c0 + t * (c1 + t * (c2 + t * c3))
    rate = c1 + t * (2.0 * c2 + t * 3.0 * c3)
    return value, rate


@dataclass(frozen=True)
class _State:
    """Separation (shadow centre − station) and its rate at times ``t`` (Earth radii, per h)."""

    sx: FloatArray
    sy: FloatArray
    vx: FloatArray
    vy: FloatArray
    zeta: FloatArray
    shadow_v: FloatArray
    hour_angle: FloatArray


class _Track:
    """The shadow and the station for N events, evaluated at per-event times."""

    def __init__(self, b: _Batch, site: Site, ut1_utc_s: float) -> None:
        self.b = b
        self.rho_cos, self.rho_sin = site_rho(site)
        self.base = gast_rad(b.t0_unix, ut1_utc_s) + math.radians(site.lon_deg) - b.ra

    def at(self, t: FloatArray, rows: slice = slice(None)) -> _State:
        """The state at times ``t`` (one row per event of ``rows``)."""
        shape = (-1,) + (1,) * (t.ndim - 1)
        dec = self.b.dec[rows].reshape(shape)
        hour_angle = self.base[rows].reshape(shape) + SIDEREAL_RATE_RAD_PER_H * t
        xi, eta, zeta = fundamental_coords(self.rho_cos, self.rho_sin, hour_angle, dec)
        xi_rate = SIDEREAL_RATE_RAD_PER_H * self.rho_cos * np.cos(hour_angle)
        eta_rate = SIDEREAL_RATE_RAD_PER_H * self.rho_cos * np.sin(dec) * np.sin(hour_angle)
        x, x_rate = _poly(self.b.coeff_x[rows], t)
        y, y_rate = _poly(self.b.coeff_y[rows], t)
        return _State(
            x - xi,
            y - eta,
            x_rate - xi_rate,
            y_rate - eta_rate,
            zeta,
            np.hypot(x_rate, y_rate),
            hour_angle,
        )


@dataclass(frozen=True)
class _Approach:
    """The closest approach of the shadow centre to the station, per event (arrays)."""

    t_h: FloatArray  # hours from the geocentric closest approach
    sep_x: FloatArray  # shadow centre − station, Earth radii
    sep_y: FloatArray
    rel_vx: FloatArray  # d(separation)/dt, Earth radii per hour
    rel_vy: FloatArray
    shadow_v: FloatArray  # |dX/dt, dY/dt|, Earth radii per hour
    hour_angle: FloatArray  # of the star at the station, radians
    converged: NDArray[np.bool_]


def _start(track: _Track, n: int) -> FloatArray:
    """The best grid time per event: the closest approach over ±4 h in 4-min steps, taken
    among the times the star is up when there are any (as ASTRID's search does). Events are
    scanned in chunks to bound the memory."""
    grid = np.linspace(-_SCAN_H, _SCAN_H, _SCAN_POINTS)
    best = np.empty(n, dtype=np.float64)
    for first in range(0, n, _SCAN_CHUNK):
        rows = slice(first, min(first + _SCAN_CHUNK, n))
        st = track.at(np.broadcast_to(grid, (rows.stop - first, _SCAN_POINTS)), rows)
        distance = np.hypot(st.sx, st.sy)
        visible = st.zeta > 0.0
        distance = np.where(visible | ~visible.any(axis=1, keepdims=True), distance, np.inf)
        best[rows] = grid[np.argmin(distance, axis=1)]
    return best


def _golden(track: _Track, low: FloatArray, high: FloatArray) -> FloatArray:
    """Golden-section search of |separation| on [low, high] per event (the fallback)."""
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(_GOLDEN_ITERATIONS):
        a, c = high - ratio * (high - low), low + ratio * (high - low)
        sa, sc = track.at(a), track.at(c)
        left = np.hypot(sa.sx, sa.sy) < np.hypot(sc.sx, sc.sy)
        high, low = np.where(left, c, high), np.where(left, low, a)
    return (low + high) / 2.0


def _closest_approach(b: _Batch, site: Site, ut1_utc_s: float) -> _Approach:
    """Local central times: a coarse scan, then Gauss-Newton on d/dt |separation|² = 0 (every
    event at once); golden-section search around the scan's best point where Gauss-Newton does
    not converge. A converged Gauss-Newton minimum is kept even when the star is down there
    (the scan preferred times with the star up, so the star sets before the closest approach:
    the event is reported below the horizon, not in the path)."""
    track = _Track(b, site, ut1_utc_s)
    start = _start(track, len(b.t0_unix))
    t = start.copy()
    step = np.full_like(t, np.inf)
    for _ in range(_MAX_ITERATIONS):
        st = track.at(t)
        if np.all(np.abs(step) < _TOLERANCE_H):
            break
        rate2 = np.maximum(st.vx * st.vx + st.vy * st.vy, 1e-12)
        # A step is capped at 1 h: far from the minimum the parabola model can overshoot.
        step = np.clip((st.sx * st.vx + st.sy * st.vy) / rate2, -1.0, 1.0)
        t = t - step
    converged = np.abs(step) < _TOLERANCE_H
    if not converged.all():
        # Where Gauss-Newton wandered (very slow shadows), search the scan's bracket; a minimum
        # strictly inside it is a true one, one at its edge is not.
        golden = _golden(track, start - _SCAN_STEP_H, start + _SCAN_STEP_H)
        inside = np.abs(golden - start) < _SCAN_STEP_H * (1.0 - 1e-6)
        t = np.where(~converged & inside, golden, t)
        converged = converged | inside
        st = track.at(t)
    return _Approach(t, st.sx, st.sy, st.vx, st.vy, st.shadow_v, st.hour_angle, converged)


def _side(normal_x: FloatArray, normal_y: FloatArray) -> list[str]:
    """Compass word for the direction from the centre line to the station."""
    return [
        ("north" if ny > 0 else "south") if abs(ny) >= abs(nx) else ("east" if nx > 0 else "west")
        for nx, ny in zip(normal_x.tolist(), normal_y.tolist(), strict=True)
    ]


def _self_check(p: Prediction, check_s: float) -> tuple[str, ...]:
    given = p.elements.max_duration_s
    if given is None or abs(given - check_s) <= SELF_CHECK_TOLERANCE * check_s + 0.01:
        return ()
    return (
        f"{p.where}: the maximum duration in the file ({given:g} s) differs from "
        f"diameter ÷ shadow speed ({check_s:.2f} s) by more than "
        f"{SELF_CHECK_TOLERANCE:.0%}: the elements may be inconsistent",
    )


def station_geometry(
    predictions: Sequence[Prediction], site: Site, *, ut1_utc_s: float = 0.0
) -> tuple[StationGeometry, ...]:
    """Each event's central time, offset, path flags, positions, speed and duration at a site.

    Args:
        predictions: events read by :func:`ekos_occult.plan.occelmnt.read_occelmnt`.
        site: the station (geodetic, WGS84).
        ut1_utc_s: UT1 − UTC in seconds (0: as Occult computes its predictions).

    Returns:
        One :class:`StationGeometry` per prediction, in the same order.
    """
    if not predictions:
        return ()
    b = _batch(predictions)
    a = _closest_approach(b, site, ut1_utc_s)
    central_unix = b.t0_unix + a.t_h * 3600.0
    rel_speed = np.maximum(np.hypot(a.rel_vx, a.rel_vy), 1e-12)
    # Left normal of the relative motion; station − centre = −separation.
    left_x, left_y = -a.rel_vy / rel_speed, a.rel_vx / rel_speed
    offset_km = (-a.sep_x * left_x - a.sep_y * left_y) * EARTH_RADIUS_KM
    sign = np.where(offset_km >= 0.0, 1.0, -1.0)
    sides = _side(sign * left_x, sign * left_y)
    alt, az = horizontal(site, a.hour_angle, b.dec)
    sun = sun_altitude_deg(site, central_unix, ut1_utc_s)
    to_km_s = EARTH_RADIUS_KM / 3600.0
    v0 = np.hypot(b.coeff_x[:, 1], b.coeff_y[:, 1]) * to_km_s
    return tuple(
        _one(
            p,
            central_unix[i],
            offset_km[i],
            sides[i],
            float(alt[i]),
            float(az[i]),
            float(sun[i]),
            float(a.shadow_v[i] * to_km_s),
            float(rel_speed[i] * to_km_s),
            float(b.diameter_km[i] / v0[i]),
            bool(a.converged[i]),
        )
        for i, p in enumerate(predictions)
    )


def _one(
    p: Prediction,
    central_unix: float,
    offset_km: float,
    side: str,
    alt: float,
    az: float,
    sun: float,
    speed: float,
    rel_speed: float,
    check_s: float,
    converged: bool,
) -> StationGeometry:
    radius = p.object.diameter_km / 2.0
    sigma = path_sigma_km(p)
    distance = abs(offset_km)
    visible = alt > 0.0
    notes = _self_check(p, check_s)
    if not converged:
        notes += (
            f"{p.where}: the central-time search did not converge; the time and offset "
            "are uncertain",
        )
    half_chord = math.sqrt(radius * radius - distance * distance) if distance < radius else 0.0
    return StationGeometry(
        central_time=datetime.fromtimestamp(round(central_unix, 6), tz=timezone.utc),
        offset_km=float(offset_km),
        side=side,
        in_path=bool(visible and distance < radius),
        in_1sigma=bool(visible and distance < radius + (sigma or 0.0)),
        sigma_path_km=sigma,
        star_alt_deg=alt,
        star_az_deg=az,
        sun_alt_deg=sun,
        shadow_speed_km_s=speed,
        relative_speed_km_s=rel_speed,
        max_duration_s=p.object.diameter_km / rel_speed,
        chord_duration_s=2.0 * half_chord / rel_speed if visible else 0.0,
        file_max_duration_s=p.elements.max_duration_s,
        check_duration_s=check_s,
        converged=converged,
        warnings=notes,
    )
