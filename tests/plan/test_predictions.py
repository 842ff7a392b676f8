"""Predictions → planner events: window, time uncertainty, exposure, drop, filters."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from ekos_occult.model import Site
from ekos_occult.plan.geometry import km_per_arcsec
from ekos_occult.plan.occelmnt import Prediction, read_occelmnt
from ekos_occult.plan.planner import exposure_for
from ekos_occult.plan.predictions import (
    MIN_DETECTABLE_DROP_MAG,
    PredictionOptions,
    events_from_predictions,
    expected_drop,
    recording_window,
)

REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
DATA = Path(__file__).parent.parent / "data" / "occelmnt"
PORTUGAL = Site(38.50, -7.10, 200.0)  # 19.9 km south of the centre line: inside the path


def real(text_edit: tuple[str, str] | None = None) -> list[Prediction]:
    text = REAL.read_text()
    if text_edit is not None:
        assert text_edit[0] in text
        text = text.replace(*text_edit)
    return list(read_occelmnt(text, "real.xml").predictions)


def test_window_centred_on_local_central_time() -> None:
    (item,) = events_from_predictions(real(), PORTUGAL).items
    g, e = item.geometry, item.event
    assert e is not None and e.prediction is not None and item.kept
    assert e.central_time == g.central_time
    sigma_t = 0.0016 * km_per_arcsec(2.8068) / g.relative_speed_km_s  # Errors field 4
    assert e.prediction.time_uncertainty_s == pytest.approx(sigma_t)
    assert sigma_t == pytest.approx(0.203, abs=0.001)
    half = g.max_duration_s / 2 + sigma_t + 30.0  # 10 × 3 s < 30 s
    assert (e.central_time - e.record_start).total_seconds() == pytest.approx(half, abs=1e-5)
    assert (e.record_end - e.central_time).total_seconds() == pytest.approx(half, abs=1e-5)
    assert e.event_duration_s == g.max_duration_s
    assert (e.ra_deg, e.dec_deg, e.mag) == (8.19592486 * 15, 12.8154226, 11.37)
    assert (e.asteroid, e.event_id, e.name) == ("(2731) Cucula", "20260209_4855.6", "(2731) Cucula")
    assert e.fields["star"].startswith("J081145.33") and e.fields["file"] == "real.xml"


def test_margin_grows_with_long_events() -> None:
    central = real()[0].elements.closest_approach
    start, end = recording_window(central, 8.0, 1.5)
    assert end - central == timedelta(seconds=4.0 + 1.5 + 80.0)  # 10 × 8 s > 30 s
    assert central - start == end - central


def test_time_uncertainty_override_and_missing_errors() -> None:
    (item,) = events_from_predictions(
        real(), PORTUGAL, PredictionOptions(time_uncertainty_s=5.0)
    ).items
    assert item.event is not None and item.event.prediction is not None
    assert item.event.prediction.time_uncertainty_s == 5.0
    assert item.event.duration.total_seconds() == pytest.approx(
        2 * (item.geometry.max_duration_s / 2 + 5.0 + 30.0), abs=1e-5
    )
    old = read_occelmnt((DATA / "old_short_fields.xml").read_bytes(), "old.xml").predictions
    (item,) = events_from_predictions(old, Site(48.0, 11.0, 500)).items
    assert item.event is not None and item.event.prediction is not None
    assert item.event.prediction.time_uncertainty_s == 0.0  # no <Errors>: margin only


def test_exposure_capped_so_event_spans_three_frames() -> None:
    # A 2 km body: the event lasts ~0.12 s, so the mag-11.37 exposure (0.44 s) is capped.
    (item,) = events_from_predictions(
        real(("Cucula,16.50,47.900", "Cucula,16.50,2.000")), PORTUGAL
    ).items
    d = item.geometry.max_duration_s
    assert d < 0.2
    assert item.exposure_s == pytest.approx(d / 3)
    assert exposure_for(11.37) > d / 3  # the cap really applied
    (normal,) = events_from_predictions(real(), PORTUGAL).items
    assert normal.exposure_s == pytest.approx(exposure_for(11.37))


def test_mag_drop_carried_and_small_drop_flagged() -> None:
    (item,) = events_from_predictions(real(), PORTUGAL).items
    assert item.event is not None and item.event.prediction is not None
    assert item.event.prediction.mag_drop == 5.12 and not item.event.prediction.small_drop
    result = events_from_predictions(real((",5.12,4.94,", ",0.08,0.07,")), PORTUGAL)
    info = result.items[0].event.prediction  # type: ignore[union-attr]
    assert info is not None and info.mag_drop == 0.08 and info.small_drop
    assert 0.08 < MIN_DETECTABLE_DROP_MAG
    assert any("drop is only 0.08 mag" in w for w in result.warnings)


def test_drop_from_magnitudes_when_the_file_has_none() -> None:
    (p,) = read_occelmnt((DATA / "old_short_fields.xml").read_bytes(), "old.xml").predictions
    # star V 11.4, body 14.2: 2.5 log10(1 + 10^(0.4 × 2.8)) = 2.88 mag
    assert expected_drop(p) == pytest.approx(2.5 * math.log10(1 + 10 ** (0.4 * 2.8)), abs=0.01)


def test_filters_by_offset_and_path_sigmas() -> None:
    preds = real()
    assert events_from_predictions(preds, PORTUGAL, PredictionOptions(max_offset_km=20)).events
    (item,) = events_from_predictions(preds, PORTUGAL, PredictionOptions(max_offset_km=19)).items
    assert not item.kept and "passes 19.9 km away (--max-offset 19 km)" in item.reason
    outside = Site(38.896, -6.927, 200.0)  # 24.7 km north: just outside the 23.95 km half-width
    (item,) = events_from_predictions(preds, outside).items
    distance = abs(item.geometry.offset_km)
    assert 23.95 < distance < 23.95 + 1.437
    assert not item.geometry.in_path and item.geometry.in_1sigma
    assert events_from_predictions(preds, outside, PredictionOptions(path_sigmas=1)).events
    (item,) = events_from_predictions(preds, outside, PredictionOptions(path_sigmas=0)).items
    assert not item.kept and "widened by 0 sigma" in item.reason


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="--max-offset must be a non-negative"):
        PredictionOptions(max_offset_km=-1)
    with pytest.raises(ValueError, match="--time-uncertainty"):
        PredictionOptions(time_uncertainty_s=float("nan"))


def test_star_without_magnitude_is_reported_not_planned() -> None:
    result = events_from_predictions(real(("11.87,11.37,10.71", ",,")), PORTUGAL)
    (item,) = result.items
    assert item.event is None and not item.kept and result.events == ()
    assert any("no magnitude" in w for w in result.warnings)


def test_repeated_object_names_get_the_event_id() -> None:
    feed = read_occelmnt((DATA / "feed_with_bad_event.xml").read_bytes(), "f.xml").predictions
    twice = [feed[0], feed[0]]
    names = [
        i.event.name for i in events_from_predictions(twice, PORTUGAL).items if i.event is not None
    ]
    assert names == ["(99001) Testia 20230315_200000"] * 2


def test_jwst_prediction_is_not_planned() -> None:
    result = events_from_predictions(real(("-14.44,False", "-14.44,True")), PORTUGAL)
    (item,) = result.items
    assert not item.kept and item.event is None and result.events == ()
    assert any("James Webb Space Telescope" in w for w in result.warnings)
