"""Predictions → planner events: window, time uncertainty, exposure, drop, filters."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest

from ekos_occult.model import Site, Status
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


def _year_feed(n: int) -> list[Prediction]:
    """The real event moved to n dates over a year and n stars over the sky, the Star element cut
    to its 9 old fields so the geometry computes the apparent place itself."""
    event = REAL.read_text().split("<Event>", 1)[1].split("</Event>", 1)[0]
    star = event.split("<Star>", 1)[1].split("</Star>", 1)[0]
    parts = []
    for i in range(n):
        month, day, hour = 1 + i % 12, 1 + (i * 7) % 28, (i * 2.37) % 24
        ra_h, dec = (i * 1.731) % 24, -70 + (i * 11.3) % 140
        text = event.replace("2026,2,9,21.9517108", f"2026,{month},{day},{hour:.7f}")
        text = text.replace(star, f"J{i:06d},{ra_h:.8f},{dec:.7f},11.87,11.37,10.71,0.0,0,")
        text = text.replace("20260209_4855.6", f"year_{i:03d}")
        parts.append(f"<Event>{text}</Event>")
    feed = "<Occultations>" + "\n".join(parts) + "</Occultations>"
    return list(read_occelmnt(feed, "year.xml").predictions)


def test_geometry_and_planner_agree_on_altitudes_over_a_year() -> None:
    """Occelmnt events get star and Sun altitudes twice: from the station geometry (the apparent
    place, GAST, at the local central time) and from the planner's visibility (ICRS → CIRS once
    per event, the Earth rotation angle, over the window centred on that time). Both must agree
    within 0.01° (they share the Sun and the horizontal transform; the star's place of date and
    the sidereal angle come by two routes)."""
    from ekos_occult.model import PlanRules
    from ekos_occult.plan.planner import make_plan

    predictions = real() + _year_feed(120)
    predicted = events_from_predictions(predictions, PORTUGAL)
    geometry = {i.prediction.event_id: i.geometry for i in predicted.items}
    first = min(e.record_start for e in predicted.events)
    plan = make_plan(predicted.events, PORTUGAL, first - timedelta(days=1), PlanRules())
    assert len(plan.events) == len(predictions) == 121
    star, sun = [], []
    for p in plan.events:
        assert p.event.event_id is not None and p.visibility is not None
        g = geometry[p.event.event_id]
        star.append(p.visibility.altitude_deg - g.star_alt_deg)
        sun.append(p.visibility.sun_altitude_deg - g.sun_alt_deg)
    assert max(map(abs, star)) < 0.01
    assert max(map(abs, sun)) < 0.01
    assert {p.status for p in plan.events} == {Status.SCHEDULED, Status.SKIPPED}


@pytest.mark.parametrize("sigma_t", [50_000.0, 1e12, 1e300])
def test_a_recording_window_longer_than_a_day_is_skipped_with_the_reason(sigma_t: float) -> None:
    options = PredictionOptions(time_uncertainty_s=sigma_t)
    result = events_from_predictions(real(), PORTUGAL, options)  # no OverflowError
    (item,) = result.items
    assert not item.kept and item.event is None and result.events == ()
    assert item.reason is not None and "longer than the 86400 s limit" in item.reason
    assert any("not planned; check the prediction's speed and errors" in w for w in result.warnings)


def test_a_shadow_that_never_reaches_the_station_is_skipped_by_default() -> None:
    """Whole-sky Occult searches are not filtered for a station: a shadow 6 Earth radii off
    (chord offset about +34 900 km) is left out with its reason, without --max-offset."""
    far = real((",0.2412790,", ",6.7412790,"))  # the closest approach 6.5 Earth radii north
    (item,) = events_from_predictions(far, PORTUGAL).items
    assert abs(item.geometry.offset_km) > 30_000
    assert not item.kept and item.event is not None
    assert item.reason.startswith("the path cannot reach the station: its centre line passes")
    assert "beyond the Earth's radius + half the path width + 3 sigma (6" in item.reason
    (near,) = events_from_predictions(real(), PORTUGAL).items
    assert near.kept  # a normal event is kept


def test_reach_is_generous_for_a_mobile_observer() -> None:
    """A station 3000 km from the path (another country) still keeps the event by default."""
    (item,) = events_from_predictions(real(), Site(38.5 + 27.0, -7.1, 200.0)).items
    assert 2000 < abs(item.geometry.offset_km) < 6000 and item.kept, item.geometry.offset_km
