"""A rehearsal of a night on the sandbox: the plan re-timed to start soon, and the truth.

Pure (no I/O, no clock): :func:`retime` moves the night's scheduled events so that they run one
after another from ``start_at`` (each keeps its own lead, window, exposure and duration);
:func:`injected` gives the occultation the sandbox simulates for each re-timed event (centred
on its central time, lasting its predicted duration; 2 s and a full drop when unknown);
:func:`compare` puts the measured D/R beside the truth, in seconds and in frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ekos_occult.kstars.sky import FULL_DROP_MAG, Occultation
from ekos_occult.model import Plan, PlannedEvent

__all__ = [
    "DEFAULT_DURATION_S",
    "GAP_S",
    "Comparison",
    "retime",
    "injected",
    "compare",
    "recording_frame_s",
]

DEFAULT_DURATION_S = 2.0
"""The occultation's length when the event gives no predicted duration."""
GAP_S = 20.0
"""Seconds between one event's recording end and the next event's job start."""


def retime(plan: Plan, start_at: datetime, gap_s: float = GAP_S) -> tuple[Plan, dict[str, float]]:
    """The plan with only its scheduled events, moved to run one after another.

    The first job starts at ``start_at``; each next job starts ``gap_s`` after the previous
    recording ends (or later: never earlier than its own lead allows). Each event keeps its
    lead (record_start - job_start), window, exposure and predicted duration; its central
    time moves with it.

    Returns:
        (the new plan, each event's shift in seconds by name).
    """
    events: list[PlannedEvent] = []
    shifts: dict[str, float] = {}
    next_job = start_at
    for ev in sorted(plan.scheduled, key=lambda e: e.job_start):
        shift = next_job - ev.job_start
        e = ev.event
        moved = replace(
            e,
            record_start=e.record_start + shift,
            record_end=e.record_end + shift,
            central_time=e.central_time + shift if e.central_time is not None else None,
        )
        events.append(replace(ev, event=moved, job_start=ev.job_start + shift))
        shifts[ev.name] = shift.total_seconds()
        next_job = moved.record_end + timedelta(seconds=gap_s)
    return replace(plan, events=tuple(events), invalid=()), shifts


def injected(ev: PlannedEvent) -> Occultation:
    """The occultation to simulate for a (re-timed) event: the truth of the rehearsal."""
    e = ev.event
    window_mid = e.record_start + (e.record_end - e.record_start) / 2
    centre = e.central_time or window_mid
    duration = e.event_duration_s if e.event_duration_s and e.event_duration_s > 0 else None
    length = timedelta(seconds=duration or DEFAULT_DURATION_S)
    # Keep the dip inside the recording, with baseline on both sides.
    half_window = (e.record_end - e.record_start) / 2
    length = min(length, half_window)
    drop = FULL_DROP_MAG
    if e.prediction is not None and e.prediction.mag_drop:
        drop = e.prediction.mag_drop
    return Occultation(
        e.name, e.ra_deg, e.dec_deg, centre - length / 2, centre + length / 2, drop, e.mag
    )


@dataclass(frozen=True)
class Comparison:
    """Measured against injected, for D and R: seconds (measured - truth) and frames."""

    d_s: float | None
    r_s: float | None
    d_frames: float | None
    r_frames: float | None

    def within(self, frames: float = 1.0) -> bool:
        """Both edges measured within ``frames`` frames of the truth."""
        return (
            self.d_frames is not None
            and self.r_frames is not None
            and abs(self.d_frames) <= frames
            and abs(self.r_frames) <= frames
        )


def recording_frame_s(exposure_s: float, cadence_s: float | None) -> float:
    """A recording's frame (seconds): the longer of the exposure and the median frame interval.

    A camera that cannot keep up with its exposure (the CCD Simulator drawing a starry field
    under load: 0.05 s exposures 0.05-0.17 s apart) records fewer, longer frames; an edge
    between two of them is known only to that interval, so "within a frame" is judged in it.
    A cadence shorter than the exposure (rounding of stamps) does not shrink the frame.
    """
    if cadence_s is None or not cadence_s > exposure_s:
        return exposure_s
    return cadence_s


def compare(
    truth: Occultation, d: datetime | None, r: datetime | None, exposure_s: float
) -> Comparison:
    """Differences measured - truth (seconds, and frames of ``exposure_s`` seconds: the
    recording's frame, see :func:`recording_frame_s`); None when unmeasured."""

    def diff(measured: datetime | None, true: datetime) -> tuple[float | None, float | None]:
        if measured is None:
            return None, None
        s = (measured - true).total_seconds()
        return s, s / exposure_s

    d_s, d_f = diff(d, truth.d_utc)
    r_s, r_f = diff(r, truth.r_utc)
    return Comparison(d_s, r_s, d_f, r_f)
