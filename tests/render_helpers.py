"""Hand-made plans for the render/files tests (no planner, no astropy)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import PurePosixPath

from ekos_occult.model import (
    OccultationEvent,
    Plan,
    PlannedEvent,
    PlanRules,
    Site,
    SkipReason,
    Status,
)

NIGHT_DIR = PurePosixPath("/home/observer/nights/2023-02-08")
SITE = Site(50.0, 10.0, 300.0)
NOW = datetime(2023, 2, 8, 18, 0, tzinfo=timezone.utc)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def planned(
    name: str,
    ra_deg: float,
    dec_deg: float,
    start: str,
    *,
    duration_s: float = 60.0,
    lead_s: float = 300.0,
    status: Status = Status.SCHEDULED,
    line: int = 0,
) -> PlannedEvent:
    record_start = utc(start)
    event = OccultationEvent(
        name=name,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        record_start=record_start,
        record_end=record_start + timedelta(seconds=duration_s),
        mag=10.0,
        line=line,
    )
    reason = None if status is Status.SCHEDULED else SkipReason.ALTITUDE
    return PlannedEvent(
        event=event,
        status=status,
        reason=reason,
        detail="",
        job_start=record_start - timedelta(seconds=lead_s),
        exposure_s=0.1,
        visibility=None,
    )


def make_plan(*events: PlannedEvent) -> Plan:
    ordered = tuple(sorted(events, key=lambda e: e.event.record_start))
    return Plan(site=SITE, now=NOW, rules=PlanRules(), events=ordered)


def three_event_plan() -> Plan:
    """Three scheduled events an hour apart and one skipped event."""
    return make_plan(
        planned("star1", 125.225, -6.2, "2023-02-08T23:29:00"),
        planned("(41) Daphne", 200.5, 10.25, "2023-02-09T00:30:00"),
        planned("low star", 300.0, -40.0, "2023-02-09T01:00:00", status=Status.SKIPPED),
        planned("TYC 1234-01102-1", 359.5, 45.0, "2023-02-09T01:45:30"),
    )
