"""The one haversine: sky separations and ground distances (IUGG mean Earth radius)."""

from __future__ import annotations

import math

import pytest

from ekos_occult.sphere import EARTH_MEAN_RADIUS_KM, angular_separation_deg, ground_distance_km


def test_one_degree_of_latitude_on_the_mean_sphere() -> None:
    assert EARTH_MEAN_RADIUS_KM == 6371.0088
    assert ground_distance_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(111.19508, abs=1e-4)
    assert ground_distance_km(51.4769, -0.0005, 51.4769, -0.0005) == 0.0


def test_antipodes_are_half_a_circumference_apart() -> None:
    assert ground_distance_km(10.0, 20.0, -10.0, -160.0) == pytest.approx(
        math.pi * EARTH_MEAN_RADIUS_KM
    )


def test_sky_separation_is_symmetric_and_exact_for_small_angles() -> None:
    one_arcsec = 1 / 3600
    assert angular_separation_deg(279.2347, 38.7837, 279.2347, 38.7837 + one_arcsec) == (
        pytest.approx(one_arcsec, rel=1e-9)
    )
    a = angular_separation_deg(10.0, 80.0, 190.0, 80.0)
    assert a == pytest.approx(20.0) and a == angular_separation_deg(190.0, 80.0, 10.0, 80.0)
    # RA is scaled by cos(dec): 1 deg of RA at dec 60 is about half a degree on the sky.
    assert angular_separation_deg(0.0, 60.0, 1.0, 60.0) == pytest.approx(0.5, rel=1e-3)
