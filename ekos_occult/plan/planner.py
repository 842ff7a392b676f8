"""Events → the night's Plan: apply the rules in order, resolve conflicts, pick exposures.

Rules, checked in this order for each event (the first that fails is the reason):

1. ``past``: the recording starts before ``now``;
2. ``sun``: the Sun is above ``max_sun_altitude_deg`` at any time in the recording window;
3. ``altitude``: the star is below ``min_altitude_deg`` at any time in the recording window;
4. ``conflict``: its ``[job_start, record_end]`` overlaps an event accepted before it, events being
   accepted by descending priority, then ascending record_start (intervals that only touch do
   not overlap).

Pure: the time is an argument and nothing is read or written.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ekos_occult.model import (
    InvalidRow,
    OccultationEvent,
    Plan,
    PlannedEvent,
    PlanRules,
    Site,
    SkipReason,
    Status,
    Visibility,
)
from ekos_occult.plan.visibility import assess

__all__ = [
    "make_plan",
    "exposure_for",
    "MIN_EXPOSURE_S",
    "MAX_EXPOSURE_S",
    "REFERENCE_EXPOSURE_S",
    "REFERENCE_MAG",
    "MIN_FRAMES_PER_EVENT",
]

REFERENCE_MAG = 9.0
REFERENCE_EXPOSURE_S = 0.05
MIN_EXPOSURE_S = 0.001
MAX_EXPOSURE_S = 2.0
MIN_FRAMES_PER_EVENT = 3


def exposure_for(
    mag: float, event_duration_s: float | None = None, explicit: float | None = None
) -> float:
    """The stream exposure for a star: fainter star, longer exposure.

    ``clamp(0.05 × 10^((mag − 9)/2.5), 0.001, 2.0)`` seconds: each magnitude fainter collects
    2.512× less light, so the exposure grows by that factor. When the predicted event duration is
    known the exposure is capped at a third of it, so the event spans at least three frames. An
    explicit exposure wins over both.

    Args:
        mag: the star's magnitude.
        event_duration_s: the predicted maximum event duration, if known.
        explicit: an exposure given in the input.

    Returns:
        The exposure in seconds.

    Raises:
        ValueError: for a non-finite magnitude or a non-positive duration or exposure.
    """
    if explicit is not None:
        if not (math.isfinite(explicit) and explicit > 0):
            raise ValueError(f"An explicit exposure must be a positive number, not {explicit}.")
        return float(explicit)
    if not math.isfinite(mag):
        raise ValueError(f"The magnitude must be a finite number, not {mag}.")
    exposure = REFERENCE_EXPOSURE_S * 10.0 ** ((float(mag) - REFERENCE_MAG) / 2.5)
    exposure = min(max(exposure, MIN_EXPOSURE_S), MAX_EXPOSURE_S)
    if event_duration_s is not None:
        if not (math.isfinite(event_duration_s) and event_duration_s > 0):
            raise ValueError(
                f"The event duration must be a positive number, not {event_duration_s}."
            )
        exposure = min(exposure, event_duration_s / MIN_FRAMES_PER_EVENT)
    return float(exposure)


@dataclass(frozen=True)
class _Verdict:
    reason: SkipReason | None
    detail: str


def _rule_verdict(
    event: OccultationEvent, vis: Visibility, now: datetime, rules: PlanRules
) -> _Verdict:
    """The first of past → sun → altitude that the event fails, or no reason."""
    if event.record_start < now:
        return _Verdict(
            SkipReason.PAST,
            f"the recording starts at {_hms(event.record_start)}, before now ({_hms(now)})",
        )
    if vis.max_sun_altitude_deg > rules.max_sun_altitude_deg:
        return _Verdict(
            SkipReason.SUN,
            f"the Sun reaches {vis.max_sun_altitude_deg:.1f}° during "
            f"the recording (limit {rules.max_sun_altitude_deg:g}°)",
        )
    if vis.min_altitude_deg < rules.min_altitude_deg:
        return _Verdict(
            SkipReason.ALTITUDE,
            f"the star is as low as {vis.min_altitude_deg:.1f}° "
            f"during the recording (limit {rules.min_altitude_deg:g}°)",
        )
    return _Verdict(None, "")


def _hms(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


class _Timeline:
    """Accepted ``[job_start, record_end]`` intervals, kept sorted and disjoint."""

    def __init__(self) -> None:
        self._starts: list[datetime] = []
        self._items: list[tuple[datetime, datetime, OccultationEvent]] = []

    def overlapping(self, start: datetime, end: datetime) -> OccultationEvent | None:
        """The earliest accepted event whose interval overlaps ``(start, end)``, if any."""
        i = bisect.bisect_left(self._starts, start)
        # Disjoint intervals sorted by start are also sorted by end: only neighbours can overlap.
        for j in (i - 1, i):
            if 0 <= j < len(self._items):
                other_start, other_end, other = self._items[j]
                if other_start < end and start < other_end:
                    return other
        return None

    def add(self, start: datetime, end: datetime, event: OccultationEvent) -> None:
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._items.insert(i, (start, end, event))


def _resolve_conflicts(
    candidates: Sequence[tuple[int, OccultationEvent]], lead: timedelta
) -> dict[int, _Verdict]:
    """Accept by priority desc, then record_start asc; a conflict verdict per loser's index."""
    timeline = _Timeline()
    losers: dict[int, _Verdict] = {}
    order = sorted(candidates, key=lambda c: (-c[1].priority, c[1].record_start, c[0]))
    for index, event in order:
        start = event.record_start - lead
        winner = timeline.overlapping(start, event.record_end)
        if winner is None:
            timeline.add(start, event.record_end, event)
            continue
        losers[index] = _Verdict(
            SkipReason.CONFLICT,
            f"overlaps {winner.name!r} (priority {winner.priority}, recording "
            f"{winner.record_start:%H:%M:%S}–{winner.record_end:%H:%M:%S} UTC), which was kept",
        )
    return losers


def make_plan(
    events: Sequence[OccultationEvent],
    site: Site,
    now: datetime,
    rules: PlanRules,
    *,
    invalid: Sequence[InvalidRow] = (),
) -> Plan:
    """Decide, for each event, whether and how it will be recorded.

    Args:
        events: the night's events (any order).
        site: the observing site.
        now: the current time (aware UTC); recordings starting before it are skipped as past.
        rules: lead time and altitude limits.
        invalid: rows of the input that could not be read, carried into the plan.

    Returns:
        The plan: every event with its status, reason, job start, exposure and positions, in
        record_start order.

    Raises:
        ValueError: if ``now`` is not timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime.")
    lead = timedelta(seconds=rules.lead_s)
    batch = assess(events, site)
    verdicts = [
        _rule_verdict(e, v, now, rules) for e, v in zip(events, batch.visibilities, strict=True)
    ]
    candidates = [(i, e) for i, e in enumerate(events) if verdicts[i].reason is None]
    losers = _resolve_conflicts(candidates, lead)
    planned = []
    for i, event in enumerate(events):
        vis, notes = batch.visibilities[i], batch.notes[i]
        verdict = losers.get(i, verdicts[i])
        planned.append(
            PlannedEvent(
                event=event,
                status=Status.SCHEDULED if verdict.reason is None else Status.SKIPPED,
                reason=verdict.reason,
                detail=verdict.detail,
                job_start=event.record_start - lead,
                exposure_s=exposure_for(event.mag, event.event_duration_s, event.exposure_s),
                visibility=vis,
                notes=notes,
            )
        )
    planned.sort(key=lambda p: (p.event.record_start, p.event.line))
    return Plan(site=site, now=now, rules=rules, events=tuple(planned), invalid=tuple(invalid))
