"""The plan: rule order past → sun → altitude → conflict, conflicts, exposures.

Visibility verdicts use events whose positions are in tests/reference/visibility_cases.json
(computed independently by tests/reference/make_visibility_reference.py).
"""

from __future__ import annotations

import dataclasses
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ekos_occult.model import InvalidRow, OccultationEvent, PlanRules, Site, SkipReason, Status
from ekos_occult.plan.planner import _resolve_conflicts, exposure_for, make_plan

REFERENCE = json.loads(
    (Path(__file__).parent.parent / "reference" / "visibility_cases.json").read_text()
)
CASES = {c["name"]: c for c in REFERENCE["cases"]}
MUNICH = Site(**REFERENCE["sites"]["munich"])
NOON = datetime(2023, 2, 8, 12, 0, tzinfo=timezone.utc)
RULES = PlanRules()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def case_event(name: str, **changes: Any) -> OccultationEvent:
    c = CASES[name]
    start = datetime.fromisoformat(c["start"]).replace(tzinfo=timezone.utc)
    e = OccultationEvent(
        name=name,
        ra_deg=c["ra_deg"],
        dec_deg=c["dec_deg"],
        record_start=start,
        record_end=start + timedelta(seconds=c["duration_s"]),
        mag=9.0,
    )
    return dataclasses.replace(e, **changes)


def star1_at(
    name: str, start: datetime, seconds: float = 10.0, priority: int = 0, line: int = 0
) -> OccultationEvent:
    """The star1 reference star (alt ~33.6°, Sun ~ -56° around 23:30 UTC) at another time."""
    return OccultationEvent(
        name=name,
        ra_deg=125.225,
        dec_deg=-6.2,
        record_start=start,
        record_end=start + timedelta(seconds=seconds),
        mag=9.0,
        priority=priority,
        line=line,
    )


def verdicts(plan: Any) -> dict[str, tuple[Status, SkipReason | None]]:
    return {p.name: (p.status, p.reason) for p in plan.events}


# --- exposure: known answers (0.05 s at mag 9, ×10 per 2.5 mag) ---


@pytest.mark.parametrize(
    ("mag", "expected"),
    [
        (9.0, 0.05),
        (11.5, 0.5),  # 2.5 mag fainter: 10× the light needed
        (10.0, 0.05 * 10**0.4),  # 0.12559 s
        (6.5, 0.005),
        (14.0, 2.0),  # 5.0 s clamped to 2 s
        (1.5, 0.001),  # 0.00005 s clamped to 1 ms
    ],
)
def test_exposure_magnitude_rule(mag: float, expected: float) -> None:
    assert exposure_for(mag) == pytest.approx(expected, rel=1e-12)


def test_exposure_fainter_star_longer_exposure() -> None:
    values = [exposure_for(m / 2) for m in range(10, 30)]
    assert values == sorted(values) and values[0] < values[-1]


def test_exposure_capped_by_event_duration_and_explicit_wins() -> None:
    assert exposure_for(11.5, event_duration_s=0.9) == pytest.approx(0.3)
    assert exposure_for(11.5, event_duration_s=3.0) == pytest.approx(0.5)  # cap not reached
    assert exposure_for(11.5, event_duration_s=0.9, explicit=0.7) == 0.7
    assert exposure_for(20.0, explicit=0.0005) == 0.0005


@pytest.mark.parametrize(
    "kwargs",
    [{"mag": float("nan")}, {"mag": 9, "event_duration_s": -1}, {"mag": 9, "explicit": 0.0}],
)
def test_exposure_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        exposure_for(**kwargs)


# --- rules ---


def test_each_rule_with_reference_positions() -> None:
    events = [
        case_event(n)
        for n in (
            "star1",
            "evening_twilight",
            "sun_crossing",
            "never_rises",
            "low",
            "crosses_limit",
            "lower_culmination",
        )
    ]
    plan = make_plan(events, MUNICH, NOON, RULES)
    assert verdicts(plan) == {
        "star1": (Status.SCHEDULED, None),
        "evening_twilight": (Status.SKIPPED, SkipReason.SUN),  # star low too: sun is checked first
        "sun_crossing": (Status.SKIPPED, SkipReason.SUN),  # -12.25° at centre, -11.4° at start
        "never_rises": (Status.SKIPPED, SkipReason.ALTITUDE),
        "low": (Status.SKIPPED, SkipReason.ALTITUDE),
        "crosses_limit": (Status.SKIPPED, SkipReason.ALTITUDE),  # 20.004° at centre, 19.17° min
        "lower_culmination": (Status.SCHEDULED, None),
    }
    by_name = {p.name: p for p in plan.events}
    assert by_name["sun_crossing"].detail == (
        "the Sun reaches -11.4° during the recording (limit -12°)"
    )
    assert by_name["crosses_limit"].detail == (
        "the star is as low as 19.2° during the recording (limit 20°)"
    )
    star1 = by_name["star1"]
    assert star1.visibility is not None
    assert star1.visibility.altitude_deg == pytest.approx(CASES["star1"]["altitude_deg"], abs=0.005)
    assert star1.job_start == utc(2023, 2, 8, 23, 24, 0) and star1.detail == ""
    assert star1.exposure_s == pytest.approx(0.05)


def test_altitude_limit_applies_between_samples() -> None:
    """Lower culmination dips to 28.23° between the start/centre/end samples (all ≥ 28.31°)."""
    rules = PlanRules(min_altitude_deg=28.27)
    plan = make_plan([case_event("lower_culmination")], MUNICH, NOON, rules)
    assert verdicts(plan) == {"lower_culmination": (Status.SKIPPED, SkipReason.ALTITUDE)}


def test_past_is_checked_first() -> None:
    twilight = case_event("evening_twilight")
    now = twilight.record_start + timedelta(seconds=1)
    plan = make_plan([twilight], MUNICH, now, RULES)
    (p,) = plan.events
    assert (p.status, p.reason) == (Status.SKIPPED, SkipReason.PAST)
    assert p.detail == (
        "the recording starts at 2023-02-08 16:45:00 UTC, before now (2023-02-08 16:45:01 UTC)"
    )
    # Starting exactly now is not past.
    assert (
        make_plan([twilight], MUNICH, twilight.record_start, RULES).events[0].reason
        is SkipReason.SUN
    )


def test_rule_limits_are_configurable() -> None:
    twilight = [case_event("evening_twilight")]  # Sun -4.1° max, star -0.77° min
    assert (
        make_plan(twilight, MUNICH, NOON, PlanRules(max_sun_altitude_deg=-4.0)).events[0].reason
        is SkipReason.ALTITUDE
    )
    assert (
        make_plan(
            twilight, MUNICH, NOON, PlanRules(max_sun_altitude_deg=-4.0, min_altitude_deg=-1.0)
        )
        .events[0]
        .status
        is Status.SCHEDULED
    )


# --- conflicts ---


def test_conflict_earlier_wins_at_equal_priority_and_detail_names_winner() -> None:
    a = star1_at("a", utc(2023, 2, 8, 23, 29))
    b = star1_at("b", utc(2023, 2, 8, 23, 32))  # job starts 23:27, inside a's interval
    plan = make_plan([b, a], MUNICH, NOON, RULES)
    assert [p.name for p in plan.events] == ["a", "b"]  # record_start order
    assert verdicts(plan) == {
        "a": (Status.SCHEDULED, None),
        "b": (Status.SKIPPED, SkipReason.CONFLICT),
    }
    assert plan.events[1].detail == (
        "overlaps 'a' (priority 0, recording 23:29:00–23:29:10 UTC), which was kept"
    )


def test_conflict_higher_priority_wins_even_if_later() -> None:
    a = star1_at("a", utc(2023, 2, 8, 23, 29))
    b = star1_at("b", utc(2023, 2, 8, 23, 32), priority=2)
    plan = make_plan([a, b], MUNICH, NOON, RULES)
    assert verdicts(plan) == {
        "a": (Status.SKIPPED, SkipReason.CONFLICT),
        "b": (Status.SCHEDULED, None),
    }
    assert "'b' (priority 2" in plan.events[0].detail


def test_touching_intervals_do_not_conflict_and_lead_matters() -> None:
    a = star1_at("a", utc(2023, 2, 8, 23, 29), seconds=60)  # ends 23:30:00
    b = star1_at("b", utc(2023, 2, 8, 23, 35))  # job start 23:30:00 with the default 300 s lead
    assert all(p.is_scheduled for p in make_plan([a, b], MUNICH, NOON, RULES).events)
    longer_lead = make_plan([a, b], MUNICH, NOON, PlanRules(lead_s=301))
    assert verdicts(longer_lead)["b"] == (Status.SKIPPED, SkipReason.CONFLICT)
    assert longer_lead.events[1].job_start == utc(2023, 2, 8, 23, 29, 59)


def test_only_accepted_events_block() -> None:
    # "top" wins; "a" and "c" both lose to it even though a and c do not overlap each other.
    a = star1_at("a", utc(2023, 2, 8, 23, 20), seconds=240)
    top = star1_at("top", utc(2023, 2, 8, 23, 26), priority=5)
    c = star1_at("c", utc(2023, 2, 8, 23, 30))
    plan = make_plan([a, top, c], MUNICH, NOON, RULES)
    assert verdicts(plan) == {
        "a": (Status.SKIPPED, SkipReason.CONFLICT),
        "top": (Status.SCHEDULED, None),
        "c": (Status.SKIPPED, SkipReason.CONFLICT),
    }
    assert all("'top'" in p.detail for p in plan.skipped)


def test_skipped_event_does_not_block_a_conflicting_one() -> None:
    low = dataclasses.replace(case_event("never_rises"), priority=9)  # 23:00:00-23:01:00
    ok = star1_at("ok", utc(2023, 2, 8, 23, 1, 30))
    assert verdicts(make_plan([low, ok], MUNICH, NOON, RULES))["ok"] == (Status.SCHEDULED, None)


def test_conflict_resolution_matches_brute_force() -> None:
    rng = random.Random(7)
    base = utc(2023, 2, 8, 20)
    lead = timedelta(seconds=300)
    events = []
    for i in range(400):
        start = base + timedelta(seconds=rng.uniform(0, 6 * 3600))
        events.append(
            star1_at(
                f"e{i}", start, seconds=rng.uniform(5, 600), priority=rng.randint(0, 3), line=i + 2
            )
        )
    losers = _resolve_conflicts(list(enumerate(events)), lead)
    accepted: list[OccultationEvent] = []
    expected_losers = set()
    for i, e in sorted(enumerate(events), key=lambda c: (-c[1].priority, c[1].record_start)):
        if any(
            e.record_start - lead < o.record_end and o.record_start - lead < e.record_end
            for o in accepted
        ):
            expected_losers.add(i)
        else:
            accepted.append(e)
    assert set(losers) == expected_losers
    assert 0 < len(expected_losers) < len(events)


# --- the plan as a whole ---


def test_plan_carries_inputs_and_orders_by_record_start() -> None:
    invalid = (InvalidRow(7, "bad", ("x.csv:7: column 'ra': ...",)),)
    late = star1_at("late", utc(2023, 2, 8, 23, 50), line=2)
    early = star1_at("early", utc(2023, 2, 8, 23, 10), line=3)
    rules = PlanRules(lead_s=120)
    plan = make_plan([late, early], MUNICH, NOON, rules, invalid=invalid)
    assert [p.name for p in plan.events] == ["early", "late"]
    assert plan.invalid == invalid and plan.rules == rules and plan.site == MUNICH
    assert plan.now == NOON and [p.name for p in plan.scheduled] == ["early", "late"]
    assert plan.events[0].job_start == utc(2023, 2, 8, 23, 8)


def test_exposure_in_plan_uses_event_fields() -> None:
    e = star1_at("s", utc(2023, 2, 8, 23, 29))
    e1 = dataclasses.replace(e, name="faint", mag=11.5, event_duration_s=0.9)
    e2 = dataclasses.replace(
        e1,
        name="explicit",
        exposure_s=0.25,
        record_start=e.record_start + timedelta(hours=1),
        record_end=e.record_end + timedelta(hours=1),
    )
    plan = make_plan([e1, e2], MUNICH, NOON, RULES)
    assert [p.exposure_s for p in plan.events] == [pytest.approx(0.3), 0.25]


def test_naive_now_rejected_and_empty_plan() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_plan([], MUNICH, datetime(2023, 2, 8), RULES)
    assert make_plan([], MUNICH, NOON, RULES).events == ()
