"""Star and Sun positions over recording windows, against independently computed references.

The references come from tests/reference/make_visibility_reference.py (astropy AltAz directly at
full precision with 1-s sampling, cross-checked against textbook formulas).
"""

from __future__ import annotations

import json
import random
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ekos_occult.model import OccultationEvent, Site
from ekos_occult.plan.visibility import (
    IERS_NOTE,
    _samples,
    _tolerating_iers_limits,
    assess,
    observer_for,
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


def test_far_future_date_is_noted_and_raises_no_warning() -> None:
    far, near = CASES["far_future"], CASES["star1"]
    batch = assess([event_from(far), event_from(near)], SITES["munich"])
    assert batch.notes == ((IERS_NOTE,), ())
    # Default Earth orientation: still within the stated accuracy of the noted positions.
    assert batch.visibilities[0].altitude_deg == pytest.approx(far["altitude_deg"], abs=0.01)
    assert batch.visibilities[0].altitude_deg == pytest.approx(far["meeus_altitude_deg"], abs=0.02)


def test_other_warnings_are_not_swallowed() -> None:
    with pytest.warns(DeprecationWarning, match="unrelated"):
        with _tolerating_iers_limits():
            warnings.warn("unrelated", DeprecationWarning, stacklevel=1)


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


def test_sun_interpolation_matches_direct_positions() -> None:
    observer = observer_for(SITES["munich"])
    base = to_unix([datetime(2023, 2, 8, 16, 0, tzinfo=timezone.utc)])[0]
    unix = base + np.array([0.0, 17.3, 1234.5, 3600.0, 7000.9])
    interpolated = sun_altitude_deg(observer, unix)
    from astropy.time import Time  # direct astroplan call, no interpolation

    direct = observer.sun_altaz(Time(unix, format="unix")).alt.deg
    assert np.max(np.abs(interpolated - direct)) < 0.001


def test_star_altaz_grid_broadcasts() -> None:
    observer = observer_for(SITES["munich"])
    unix = to_unix([datetime(2023, 2, 8, 23, 29, 5, tzinfo=timezone.utc)]) + np.array([0, 600])
    alt, az = star_altaz(observer, np.array([[125.225], [30.0]]), np.array([[-6.2], [10.0]]), unix)
    assert alt.shape == (2, 2) == az.shape
    assert alt[0, 0] == pytest.approx(CASES["star1"]["altitude_deg"], abs=ANGLE_TOL)
