"""Re-timing a night for a rehearsal, the injected occultations, and injected vs measured."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from fakes import T0, make_plan, planned

from ekos_occult.kstars.sky import FULL_DROP_MAG
from ekos_occult.model import PredictionInfo
from ekos_occult.night.rehearsal import GAP_S, compare, injected, recording_frame_s, retime


def test_retime_runs_the_scheduled_events_one_after_another_from_the_start() -> None:
    plan = make_plan(
        planned("late", 300, duration_s=30.0, exposure_s=0.5, lead_s=120.0),
        planned("early", 60, duration_s=10.0, exposure_s=0.1, lead_s=200.0),
        planned("skipped", 100, scheduled=False),
    )
    start = T0 + timedelta(days=3, minutes=2)
    moved, shifts = retime(plan, start)
    assert [e.name for e in moved.events] == ["early", "late"]  # by job start; skipped gone
    early, late = moved.events
    assert early.job_start == start
    assert late.job_start == early.event.record_end + timedelta(seconds=GAP_S)
    for new in moved.events:
        old = next(e for e in plan.events if e.name == new.name)
        # Each keeps its own lead, window, exposure and duration.
        assert new.event.record_start - new.job_start == old.event.record_start - old.job_start
        assert new.event.duration == old.event.duration
        assert new.exposure_s == old.exposure_s
        assert shifts[new.name] == (new.job_start - old.job_start).total_seconds()


def test_injected_occultation_is_centred_and_lasts_the_predicted_duration() -> None:
    ev = planned("A", 10, duration_s=60.0)
    e = ev.event
    centre = e.record_start + timedelta(seconds=25)
    pred = PredictionInfo(1.0, "north", True, True, 5.0, 10.0, 12.0, 4.0, 3.5, 2.0, mag_drop=1.5)
    ev = replace(ev, event=replace(e, central_time=centre, event_duration_s=3.5, prediction=pred))
    occ = injected(ev)
    assert occ.d_utc == centre - timedelta(seconds=1.75)
    assert occ.r_utc == centre + timedelta(seconds=1.75)
    assert occ.drop_mag == 1.5 and (occ.ra_deg, occ.dec_deg) == (e.ra_deg, e.dec_deg)


def test_unknown_duration_gives_2_s_and_a_full_drop_at_the_window_middle() -> None:
    ev = planned("A", 10, duration_s=10.0)
    occ = injected(ev)
    mid = ev.event.record_start + timedelta(seconds=5)
    assert (occ.d_utc, occ.r_utc) == (mid - timedelta(seconds=1), mid + timedelta(seconds=1))
    assert occ.drop_mag == FULL_DROP_MAG


def test_compare_in_seconds_and_frames() -> None:
    occ = injected(planned("A", 10))
    c = compare(occ, occ.d_utc + timedelta(seconds=0.08), occ.r_utc - timedelta(seconds=0.12), 0.1)
    assert c.d_s == pytest.approx(0.08) and c.d_frames == pytest.approx(0.8)
    assert c.r_s == pytest.approx(-0.12) and c.r_frames == pytest.approx(-1.2)
    assert not c.within(1.0) and c.within(1.5)
    assert not compare(occ, None, occ.r_utc, 0.1).within(10)


def test_the_recordings_frame_is_the_longer_of_exposure_and_frame_interval() -> None:
    # the simulator under load: 0.05 s exposures drawn 0.09 s apart -> frames of 0.09 s
    assert recording_frame_s(0.05, 0.09) == pytest.approx(0.09)
    assert recording_frame_s(0.2, 0.2004) == pytest.approx(0.2004)
    assert recording_frame_s(0.2, 0.1999) == 0.2  # stamps' rounding never shrinks a frame
    assert recording_frame_s(0.05, None) == 0.05  # interval unread: the exposure
    occ = injected(planned("A", 10))
    late = occ.d_utc + timedelta(seconds=0.07)
    assert not compare(occ, late, occ.r_utc, recording_frame_s(0.05, None)).within(1.0)
    assert compare(occ, late, occ.r_utc, recording_frame_s(0.05, 0.09)).within(1.0)
