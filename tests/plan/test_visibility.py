"""Star and Sun positions over recording windows, against independently computed references.

The references come from tests/reference/make_visibility_reference.py (astropy AltAz directly at
full precision with 1-s sampling, cross-checked against textbook formulas). The planner itself
computes with ERFA and no IERS tables (plan/earthsky); the last tests check it against astropy
(with its bundled IERS tables) over a year of dates.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ekos_occult.model import OccultationEvent, Site
from ekos_occult.plan.visibility import (
    _samples,
    assess,
    star_altaz,
    sun_altitude_deg,
    to_unix,
)

REFERENCE = json.loads(
    (Path(__file__).parent.parent / "reference" / "visibility_cases.json").read_text()
)
CASES = {c["name"]: c for c in REFERENCE["cases"]}
SITES = {k: Site(**v) for k, v in REFERENCE["sites"].items()}

# Interpolated astrometry, 60-s sampling and minute-grid Sun: all well inside these.
ANGLE_TOL = 0.005  # degrees
AZ_TOL = 0.01  # degrees (azimuth moves faster than altitude near the zenith)


def event_from(case: dict[str, Any]) -> OccultationEvent:
    start = datetime.fromisoformat(case["start"]).replace(tzinfo=timezone.utc)
    return OccultationEvent(
        name=case["name"],
        ra_deg=case["ra_deg"],
        dec_deg=case["dec_deg"],
        record_start=start,
        record_end=start + timedelta(seconds=case["duration_s"]),
        mag=10.0,
    )


def check(vis: Any, case: dict[str, Any]) -> None:
    assert vis.altitude_deg == pytest.approx(case["altitude_deg"], abs=ANGLE_TOL)
    assert vis.azimuth_deg == pytest.approx(case["azimuth_deg"], abs=AZ_TOL)
    assert vis.sun_altitude_deg == pytest.approx(case["sun_altitude_deg"], abs=ANGLE_TOL)
    assert vis.min_altitude_deg == pytest.approx(case["min_altitude_deg"], abs=ANGLE_TOL)
    assert vis.max_sun_altitude_deg == pytest.approx(case["max_sun_altitude_deg"], abs=ANGLE_TOL)


@pytest.mark.parametrize("name", sorted(CASES))
def test_single_event_matches_reference(name: str) -> None:
    case = CASES[name]
    batch = assess([event_from(case)], SITES[case["site"]])
    check(batch.visibilities[0], case)


def test_batch_in_any_order_matches_reference() -> None:
    """All Munich cases in one vectorised call, shuffled: no event gets another's samples."""
    cases = [c for c in CASES.values() if c["site"] == "munich"]
    random.Random(3).shuffle(cases)
    batch = assess([event_from(c) for c in cases], SITES["munich"])
    assert len(batch.visibilities) == len(cases)
    for vis, case in zip(batch.visibilities, cases, strict=True):
        check(vis, case)


def test_lowest_altitude_found_between_samples_near_lower_culmination() -> None:
    case = CASES["lower_culmination"]
    (vis,) = assess([event_from(case)], SITES["munich"]).visibilities
    # The start/centre/end samples alone would overestimate the minimum by ~0.08°.
    assert case["min_altitude_at_start_centre_end_deg"] - case["min_altitude_deg"] > 0.05
    assert vis.min_altitude_deg == pytest.approx(case["min_altitude_deg"], abs=0.001)


def test_far_future_date_within_stated_accuracy_without_warning() -> None:
    """Beyond astropy's IERS tables and ERFA's leap-second table: UT1 = UTC as for every date
    (warnings are errors in this suite, so none may be raised)."""
    far, near = CASES["far_future"], CASES["star1"]
    batch = assess([event_from(far), event_from(near)], SITES["munich"])
    assert batch.notes == ((), ())
    assert batch.visibilities[0].altitude_deg == pytest.approx(far["altitude_deg"], abs=0.01)
    assert batch.visibilities[0].altitude_deg == pytest.approx(far["meeus_altitude_deg"], abs=0.02)


def test_no_events() -> None:
    batch = assess([], SITES["munich"])
    assert batch.visibilities == () and batch.notes == ()


@pytest.mark.parametrize("duration", [0.5, 10.0, 60.0, 61.0, 119.0, 120.0, 3600.0, 7201.0])
def test_samples_cover_window_at_most_60s_apart_with_centre(duration: float) -> None:
    times, owner, offsets = _samples(np.array([1000.0, 5.0]), np.array([duration, 30.0]), 60.0)
    mine = times[owner == 0]
    assert mine[0] == 1000.0 and mine[-1] == pytest.approx(1000.0 + duration)
    assert len(mine) % 2 == 1 and len(mine) >= 3
    assert mine[len(mine) // 2] == pytest.approx(1000.0 + duration / 2)
    assert np.all(np.diff(mine) <= 60.0 + 1e-9)
    assert offsets.tolist() == [0, len(mine)]


def test_star_altaz_grid_broadcasts() -> None:
    unix = to_unix([datetime(2023, 2, 8, 23, 29, 5, tzinfo=timezone.utc)]) + np.array([0, 600])
    site = SITES["munich"]
    alt, az = star_altaz(site, np.array([[125.225], [30.0]]), np.array([[-6.2], [10.0]]), unix)
    assert alt.shape == (2, 2) == az.shape
    assert alt[0, 0] == pytest.approx(CASES["star1"]["altitude_deg"], abs=ANGLE_TOL)


def _astropy_altaz(site: Site, ra: Any, dec: Any, unix: Any) -> tuple[Any, Any, Any]:
    """Star alt/az and Sun altitude by astropy at full precision (bundled IERS tables)."""
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_sun
    from astropy.time import Time

    location = EarthLocation.from_geodetic(
        site.lon_deg * u.deg, site.lat_deg * u.deg, site.elevation_m * u.m
    )
    frame = AltAz(obstime=Time(unix, format="unix", scale="utc"), location=location)
    star = SkyCoord(ra=ra * u.deg, dec=dec * u.deg, frame="icrs").transform_to(frame)
    sun = get_sun(frame.obstime).transform_to(frame)
    return star.alt.deg, star.az.deg, sun.alt.deg


@pytest.mark.parametrize("site_name", sorted(SITES))
def test_fast_path_agrees_with_astropy_over_a_year(site_name: str) -> None:
    """ERFA without IERS tables (what the planner uses) against astropy with them: star and Sun
    altitudes within 0.01° (measured: ~0.001°) at 400 random times over 2025, stars all over
    the sky; the same through assess() for windows of up to an hour."""
    site = SITES[site_name]
    rng = np.random.default_rng(7)
    unix = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp() + rng.uniform(0, 365 * 86400, 400)
    ra = rng.uniform(0.0, 360.0, unix.size)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, unix.size)))
    ref_alt, ref_az, ref_sun = _astropy_altaz(site, ra, dec, unix)
    alt, az = star_altaz(site, ra, dec, unix)
    sun = sun_altitude_deg(site, unix)
    assert np.max(np.abs(alt - ref_alt)) < 0.01
    assert np.max(np.abs(sun - ref_sun)) < 0.01
    away_from_zenith = ref_alt < 85.0  # azimuth is ill-defined at the zenith
    az_error = (az - ref_az + 180.0) % 360.0 - 180.0
    assert np.max(np.abs(az_error[away_from_zenith])) < 0.02
    # The same times as window centres in one batch: assess() agrees too.
    duration = rng.uniform(1.0, 3600.0, unix.size)
    events = [
        OccultationEvent(
            name=f"e{i}",
            ra_deg=float(ra[i]),
            dec_deg=float(dec[i]),
            record_start=datetime.fromtimestamp(float(unix[i] - duration[i] / 2), tz=timezone.utc),
            record_end=datetime.fromtimestamp(float(unix[i] + duration[i] / 2), tz=timezone.utc),
            mag=10.0,
        )
        for i in range(unix.size)
    ]
    batch = assess(events, site)
    centre_alt = np.array([v.altitude_deg for v in batch.visibilities])
    centre_sun = np.array([v.sun_altitude_deg for v in batch.visibilities])
    assert np.max(np.abs(centre_alt - ref_alt)) < 0.01
    assert np.max(np.abs(centre_sun - ref_sun)) < 0.01


def test_planning_does_not_load_astropy() -> None:
    """Importing the planner and planning (the test suite's way, and the CLI's) loads no astropy:
    no IERS tables parsed, no astropy start-up cost (a fresh interpreter, as the CLI starts)."""
    code = (
        "import sys\n"
        "from datetime import datetime, timezone\n"
        "from ekos_occult.model import OccultationEvent, PlanRules, Site\n"
        "from ekos_occult.plan.planner import make_plan\n"
        "from ekos_occult.plan.predictions import events_from_predictions\n"
        "t = datetime(2023, 2, 8, 23, 29, tzinfo=timezone.utc)\n"
        "e = OccultationEvent('s', 125.225, -6.2, t, t.replace(minute=30), 9.0)\n"
        "plan = make_plan([e], Site(48.1, 11.6, 520.0), t.replace(hour=12), PlanRules())\n"
        "assert plan.events[0].visibility.altitude_deg > 30\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('astropy', 'astroplan')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
