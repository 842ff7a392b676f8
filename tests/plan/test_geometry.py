"""Station geometry against the independent astropy brute force (tests/reference), astropy's
sidereal time and geocentric positions, and Occult's own substellar longitude."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.time import Time

from ekos_occult.model import Site
from ekos_occult.plan.earthsky import EARTH_RADIUS_KM, apparent_place, gast_rad, site_rho
from ekos_occult.plan.geometry import path_sigma_km, station_geometry
from ekos_occult.plan.occelmnt import Prediction, read_occelmnt
from ekos_occult.plan.shadowpath import shadow_point

HERE = Path(__file__).parent.parent
REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
CASES = json.loads((HERE / "reference" / "occelmnt_cases.json").read_text())
# The issue asks for 0.2 s and 1 km; we hold ourselves to tighter bounds. The reference uses
# astropy's UT1 and polar motion, we use UT1 = UTC as Occult does: that alone moves the real
# stations by ~15 m (UT1 − UTC = 0.067 s on 2026-02-09).
TIME_TOL_S = 0.02
OFFSET_TOL_KM = 0.05


def prediction(path: Path, index: int = 0) -> Prediction:
    preds = read_occelmnt(path.read_bytes(), str(path)).predictions
    return next(p for p in preds if p.index == index + 1)


def _ref_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _check_against_reference(p: Prediction, stations: list[dict]) -> None:
    for st in stations:
        site = Site(st["lat_deg"], st["lon_deg"], st["elevation_m"])
        (g,) = station_geometry([p], site)
        dt = (g.central_time - _ref_time(st["central_time"])).total_seconds()
        assert abs(dt) < TIME_TOL_S, (site, dt)
        assert g.offset_km == pytest.approx(st["offset_km"], abs=OFFSET_TOL_KM), site
        assert g.converged


def test_real_path_agrees_with_brute_force_reference() -> None:
    stations = CASES["real"]["stations"]
    assert len(stations) >= 15
    offsets = [s["offset_km"] for s in stations]
    assert min(offsets) < -20 and max(offsets) > 20  # both sides of the path are covered
    _check_against_reference(prediction(REAL), stations)


def test_real_path_all_stations_at_once_equals_one_by_one() -> None:
    p = prediction(REAL)
    stations = CASES["real"]["stations"][:4]
    site = Site(stations[0]["lat_deg"], stations[0]["lon_deg"], stations[0]["elevation_m"])
    many = station_geometry([p] * 50, site)
    assert len({(g.central_time, g.offset_km) for g in many}) == 1
    assert many[0] == station_geometry([p], site)[0]


@pytest.mark.parametrize("case", CASES["synthetic"], ids=lambda c: c["file"])
def test_synthetic_feeds_agree_with_reference(case: dict) -> None:
    p = prediction(HERE / "data" / "occelmnt" / case["file"], case["event_index"])
    _check_against_reference(p, case["stations"])


def test_gast_reproduces_occult_substellar_longitude() -> None:
    p = prediction(REAL)
    gast = math.degrees(gast_rad(np.array([p.elements.closest_approach.timestamp()]))[0])
    substellar = (p.star.apparent_ra_hours * 15 - gast + 180) % 360 - 180
    assert substellar == pytest.approx(p.earth.substellar_lon_deg, abs=0.0001)
    # The reference script found the same with astropy (UT1 = UTC) independently:
    assert substellar == pytest.approx(
        CASES["real"]["gast"]["astropy_substellar_lon_utc_deg"], abs=1e-6
    )


@pytest.mark.parametrize(
    "iso", ["2023-03-15T22:00:00", "2026-02-09T21:57:06.159", "2016-06-15T03:00:00"]
)
def test_gast_matches_astropy(iso: str) -> None:
    t = Time(iso, scale="utc")
    t.delta_ut1_utc = 0.0
    expected = t.sidereal_time("apparent", "greenwich").rad
    got = gast_rad(np.array([t.unix]))[0]
    # 2e-8 rad = 4 mas = 13 cm on the ground (IAU 2000B against astropy's 2006/2000A).
    assert math.remainder(got - expected, 2 * math.pi) == pytest.approx(0.0, abs=2e-8)
    t.delta_ut1_utc = 0.3
    shifted = gast_rad(np.array([t.unix]), ut1_utc_s=0.3)[0]
    assert math.remainder(
        shifted - t.sidereal_time("apparent", "greenwich").rad, 2 * math.pi
    ) == pytest.approx(0.0, abs=2e-8)


@pytest.mark.parametrize(
    "site",
    [Site(48.1, 11.6, 520), Site(-33.9, 18.5, 10), Site(0.0, -70.0, 4000), Site(89.0, 0.0, 0)],
)
def test_site_rho_matches_astropy_geocentric(site: Site) -> None:
    loc = EarthLocation.from_geodetic(
        site.lon_deg * u.deg, site.lat_deg * u.deg, site.elevation_m * u.m
    )
    x, y, z = (c.to_value(u.km) for c in loc.geocentric)
    rho_cos, rho_sin = site_rho(site)
    assert rho_cos * EARTH_RADIUS_KM == pytest.approx(math.hypot(x, y), abs=1e-6)
    assert rho_sin * EARTH_RADIUS_KM == pytest.approx(z, abs=1e-6)


def test_apparent_place_fallback_matches_the_file() -> None:
    # ERFA's apparent place and Occult's differ by ~17 mas in RA: 0.5 m on the fundamental plane.
    p = prediction(REAL)
    ra, dec = apparent_place(
        np.array([p.star.ra_hours * 15]),
        np.array([p.star.dec_deg]),
        np.array([p.elements.closest_approach.timestamp()]),
    )
    assert math.degrees(ra[0]) / 15 == pytest.approx(p.star.apparent_ra_hours, abs=1e-6)
    assert math.degrees(dec[0]) == pytest.approx(p.star.apparent_dec_deg, abs=1e-5)


def test_sides_path_and_horizon_flags_on_synthetic_event() -> None:
    p = prediction(HERE / "data" / "occelmnt" / "synthetic_event.xml")
    names = ("centre", "north_inside", "south_inside", "north_outside", "south_outside", "antipode")
    stations = CASES["synthetic"][0]["stations"]
    got = {
        n: station_geometry([p], Site(s["lat_deg"], s["lon_deg"], s["elevation_m"]))[0]
        for n, s in zip(names, stations, strict=True)
    }
    # The shadow moves east-north-east: left of the motion is north, so north is positive.
    assert got["north_inside"].offset_km > 0 and got["north_inside"].side == "north"
    assert got["south_inside"].offset_km < 0 and got["south_inside"].side == "south"
    for n in ("centre", "north_inside", "south_inside"):
        assert got[n].in_path and got[n].in_1sigma and got[n].chord_duration_s > 0
    for n in ("north_outside", "south_outside"):
        assert not got[n].in_path and got[n].chord_duration_s == 0.0
    # The antipode is geometrically far from the path, and the star is below its horizon.
    assert not got["antipode"].star_visible and not got["antipode"].in_path
    # Centre-line station: chord duration = max duration = diameter / relative speed.
    c = got["centre"]
    assert c.chord_duration_s == pytest.approx(60.0 / c.relative_speed_km_s, rel=1e-4)


def test_star_below_horizon_is_never_in_path() -> None:
    p = prediction(HERE / "data" / "occelmnt" / "feed_with_bad_event.xml", 2)
    # The Farside path crosses the antipode; from the centre station the star is far below.
    (g,) = station_geometry([p], Site(48.0, 11.0, 500))
    assert g.star_alt_deg < -60 and not g.in_path and not g.in_1sigma
    (g,) = station_geometry([p], Site(-35.0, -169.0, 0))
    assert g.star_alt_deg > 80 and g.in_path


def test_star_and_sun_positions_match_astropy_at_central_time() -> None:
    p = prediction(REAL)
    site = Site(38.67, -7.0, 200)
    (g,) = station_geometry([p], site)
    loc = EarthLocation.from_geodetic(site.lon_deg * u.deg, site.lat_deg * u.deg, 200 * u.m)
    frame = AltAz(obstime=Time(g.central_time), location=loc)
    star = SkyCoord(p.star.ra_hours * 15 * u.deg, p.star.dec_deg * u.deg).transform_to(frame)
    assert g.star_alt_deg == pytest.approx(star.alt.deg, abs=0.01)
    assert g.star_az_deg == pytest.approx(star.az.deg, abs=0.01)
    from astropy.coordinates import get_sun

    assert g.sun_alt_deg == pytest.approx(
        get_sun(frame.obstime).transform_to(frame).alt.deg, abs=0.05
    )


def test_speeds_and_self_check_on_real_file() -> None:
    p = prediction(REAL)
    (g,) = station_geometry([p], Site(38.67, -7.0, 200))
    # Fundamental-plane speed from the elements: |(dX, dY)| · a / 3600 at t ≈ 0.
    plane = math.hypot(p.elements.dx, p.elements.dy) * EARTH_RADIUS_KM / 3600
    assert g.shadow_speed_km_s == pytest.approx(plane, rel=2e-3)
    assert g.check_duration_s == pytest.approx(47.9 / plane, rel=1e-9)
    assert g.check_duration_s == pytest.approx(3.04, abs=0.01)  # the file passes the check
    assert g.warnings == ()
    # Relative to a station rotating eastwards under a shadow moving west: faster.
    assert g.relative_speed_km_s > g.shadow_speed_km_s
    assert g.max_duration_s == pytest.approx(47.9 / g.relative_speed_km_s)


def test_self_check_warns_on_inconsistent_duration() -> None:
    text = REAL.read_text().replace("[OWC],3.04,", "[OWC],4.50,")
    (p,) = read_occelmnt(text, "edited.xml").predictions
    (g,) = station_geometry([p], Site(38.67, -7.0, 200))
    (warning,) = g.warnings
    assert "edited.xml: event 1" in warning and "4.5 s" in warning and "3.04 s" in warning


def test_path_sigma_from_errors_and_from_the_ellipse() -> None:
    p = prediction(REAL)
    assert path_sigma_km(p) == pytest.approx((1.030 - 1) * 47.9)
    # Without field 0, the 1-sigma ellipse (0.0015" x 0.0002", PA 91°) projected across the
    # path (motion PA 297.2°, so across = 27.2°): hypot(0.0015 cos 63.8°, 0.0002 sin 63.8°)
    # = 0.000685" at 2.8068 AU (2035.6 km/") = 1.394 km: close to field 0's 1.437 km.
    text = REAL.read_text().replace("<Errors>1.030,", "<Errors>,")
    (q,) = read_occelmnt(text, "e.xml").predictions
    assert path_sigma_km(q) == pytest.approx(1.394, abs=0.005)
    text = REAL.read_text().replace("<Errors>1.030,0.0015,0.0002,91,", "<Errors>,,,,")
    (q,) = read_occelmnt(text, "e.xml").predictions
    assert path_sigma_km(q) == pytest.approx(0.0016 * 2.8068 * 149597870.7 / 206264.806)


def test_shadowpath_inverse_round_trip_across_the_real_path() -> None:
    p = prediction(REAL)
    t = np.array([-0.05, 0.0, 0.05])
    for offset in (-40.0, -10.0, 0.0, 15.0, 30.0):
        lat, lon = shadow_point(p, t, offset)
        for k in range(len(t)):
            (g,) = station_geometry([p], Site(float(lat[k]), float(lon[k]), 0.0))
            assert g.offset_km == pytest.approx(offset, abs=0.01)
            expected = p.elements.closest_approach + timedelta(hours=float(t[k]))
            assert abs((g.central_time - expected).total_seconds()) < 0.05
            assert g.in_path == (abs(offset) < 47.9 / 2)


@pytest.mark.parametrize(
    "path", [REAL, HERE / "data" / "occelmnt" / "slow_shadow.xml"], ids=["real", "slow"]
)
def test_many_sites_converge(path: Path) -> None:
    p = prediction(path)
    rng = np.random.default_rng(7)
    for lat, lon in zip(rng.uniform(-80, 80, 60), rng.uniform(-180, 180, 60), strict=True):
        (g,) = station_geometry([p], Site(float(lat), float(lon), 0.0))
        assert g.converged and g.warnings == ()
