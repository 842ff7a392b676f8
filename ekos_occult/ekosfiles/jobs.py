"""Scheduled events → Ekos scheduler jobs: names, paths, local start times, spacing rules.

Pure. Decides what each Ekos job will be (unique path-safe name, J2000 coordinates in Ekos'
units, StartAt in KStars' local time, file paths) and which jobs Ekos' own scheduler would not
run as planned. :mod:`ekos_occult.ekosfiles.render` turns these jobs into XML.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import PurePath, PurePosixPath

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.ekosfiles.naming import file_stem, job_names
from ekos_occult.ekosfiles.nightfolder import SEQUENCES
from ekos_occult.errors import RenderError
from ekos_occult.model import Plan, PlannedEvent
from ekos_occult.settings import Settings

__all__ = [
    "LEAD_TIME_S",
    "STEP_SECONDS",
    "GREEDY_MIN_RUN_S",
    "JobSpec",
    "night_label",
    "build_jobs",
    "estimated_job_seconds",
    "spacing_notes",
]


LEAD_TIME_S = 300.0
"""KStars' ``[Scheduler] LeadTime`` default: minimum gap between classic-scheduler jobs."""
STEP_SECONDS = {"Track": 30.0, "Focus": 120.0, "Align": 60.0, "Guide": 135.0}
"""KStars 3.6 ``timeHeuristics``: seconds added to a job's estimate per step (default options)."""
GREEDY_MIN_RUN_S = 600.0
"""Greedy scheduler (3.7+): a job must run 10 min before a later START_AT job preempts it."""


@dataclass(frozen=True)
class JobSpec:
    """One Ekos scheduler job, as the templates receive it and the checker expects it.

    Attributes:
        name: unique, path-safe job name (event name + UTC date); also the capture target.
        stem: file stem of the job's files (name with underscores).
        event: the planned event.
        ra_hours, dec_deg: J2000 coordinates, RA normalised to [0, 24).
        start_local: ``job_start`` as naive wall-clock time of KStars' location, by the zone's
            rules at that instant (each job its own UTC offset: a DST change may fall between).
        local_ambiguous: that wall-clock time happens twice (the night the clocks go back), so
            Ekos, which reads StartAt without an offset, may start the job an hour off.
        sequence_path: absolute path of the .esq the job references.
        capture_dir: absolute FITSDirectory for the control frame.
        asap: the job starts "as soon as possible" instead of at ``start_local``: ``run``
            loads each event's job at its start itself, so it must not depend on KStars'
            clock and zone (a GPS/mount time source or a DST change moves them; a job that
            looks > 500 s late never runs, on 3.8 one > 5 min early parks the mount).
    """

    name: str
    stem: str
    event: PlannedEvent
    ra_hours: float
    dec_deg: float
    start_local: datetime
    sequence_path: PurePath
    capture_dir: PurePath
    local_ambiguous: bool = False
    asap: bool = False

    @property
    def start_at(self) -> str:
        """The StartAt value Ekos reads (Qt ISO date, no zone: KStars ignores one anyway)."""
        return self.start_local.strftime("%Y-%m-%dT%H:%M:%S")

    @property
    def sequence_relpath(self) -> PurePosixPath:
        return PurePosixPath(SEQUENCES) / f"{self.stem}.esq"


def night_label(plan: Plan) -> str:
    """The night's date: local mean solar date at the site of the first event, minus 12 h.

    Raises:
        RenderError: when nothing is scheduled.
    """
    first = _scheduled(plan)[0].event.record_start
    solar = first + timedelta(hours=plan.site.lon_deg / 15.0 - 12.0)
    return solar.date().isoformat()


def _scheduled(plan: Plan) -> tuple[PlannedEvent, ...]:
    events = tuple(sorted(plan.scheduled, key=lambda e: e.job_start))
    if not events:
        reasons = sorted({e.reason.value for e in plan.events if e.reason is not None})
        why = f" (skipped: {', '.join(reasons)})" if reasons else ""
        raise RenderError(
            f"Nothing to render: none of the {len(plan.events)} events is scheduled{why}. "
            "Run `ekos-occult plan` to see why, or relax --min-altitude/--max-sun-altitude."
        )
    return events


def _checked_coordinates(ev: PlannedEvent) -> tuple[float, float]:
    ra_deg, dec_deg = ev.event.ra_deg, ev.event.dec_deg
    where = f"event {ev.name!r}" + (f" (line {ev.event.line})" if ev.event.line else "")
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg)):
        raise RenderError(f"{where}: RA/Dec must be finite numbers, not {ra_deg}/{dec_deg}.")
    if not -90.0 <= dec_deg <= 90.0:
        raise RenderError(f"{where}: Dec {dec_deg} is outside -90..90 degrees.")
    ra_hours = (ra_deg % 360.0) / 15.0
    return (0.0 if round(ra_hours, 8) >= 24.0 else ra_hours), dec_deg


def build_jobs(
    plan: Plan, *, night_dir: PurePath, capture_root: PurePath, tz: tzinfo
) -> tuple[JobSpec, ...]:
    """One JobSpec per scheduled event, in job-start order, with unique names and paths.

    Raises:
        RenderError: nothing scheduled, a relative folder, or invalid coordinates.
    """
    for label, folder in (("night folder", night_dir), ("capture folder", capture_root)):
        if not folder.is_absolute():
            raise RenderError(f"The {label} must be an absolute path, not {str(folder)!r}.")
    events = _scheduled(plan)
    names = job_names([(e.name, e.event.record_start) for e in events])
    jobs = []
    for ev, name in zip(events, names, strict=True):
        ra_hours, dec_deg = _checked_coordinates(ev)
        stem = file_stem(name)
        local = ev.job_start.astimezone(tz)  # this instant's offset, DST or not
        jobs.append(
            JobSpec(
                name=name,
                stem=stem,
                event=ev,
                ra_hours=ra_hours,
                dec_deg=dec_deg,
                start_local=local.replace(tzinfo=None),
                sequence_path=night_dir / SEQUENCES / f"{stem}.esq",
                capture_dir=capture_root / stem,
                local_ambiguous=local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset(),
            )
        )
    return tuple(jobs)


def estimated_job_seconds(settings: Settings) -> float:
    """Ekos 3.6 estimate of one job: the control frame plus its step heuristics."""
    # One control frame, no delay between frames.
    return settings.capture.exposure_s + sum(STEP_SECONDS[s] for s in settings.ekos.steps)


def spacing_notes(
    jobs: Sequence[JobSpec], settings: Settings, version: KStarsFormat
) -> dict[str, str]:
    """Which jobs Ekos' own scheduler would not run as planned, keyed by job name.

    3.6 (classic): a StartAt job starting before the previous job's estimated end + LeadTime
    (5 min) is marked invalid. 3.7+ (greedy): a job followed within 10 min by another StartAt
    job is run after it, late. Gaps are measured in UTC (local wall-clock gaps are wrong across
    a DST change). A job whose local StartAt happens twice (clocks going back) is noted too.
    """
    notes: dict[str, str] = {}

    def add(name: str, text: str) -> None:
        notes[name] = f"{notes[name]} {text}" if name in notes else text

    for job in jobs:
        if job.local_ambiguous:
            add(
                job.name,
                f"job {job.name!r} starts at {job.start_at} local time, which happens twice "
                "tonight (the clocks go back): Ekos reads StartAt without an offset and may "
                "start it an hour off. Use `ekos-occult run` (it starts each job itself).",
            )
    estimate = estimated_job_seconds(settings)
    for prev, job in zip(jobs, jobs[1:], strict=False):
        gap = (job.event.job_start - prev.event.job_start).total_seconds()
        if version == KStarsFormat.V3_6 and gap < estimate + LEAD_TIME_S:
            add(
                job.name,
                f"Ekos 3.6 will mark job {job.name!r} invalid: it starts {gap:.0f} s after "
                f"{prev.name!r}, less than that job's estimated {estimate:.0f} s + 5 min lead "
                "time. Use `ekos-occult run` (one job at a time) to observe both.",
            )
        elif version == KStarsFormat.V3_7 and gap < GREEDY_MIN_RUN_S:
            add(
                prev.name,
                f"Ekos 3.7+ will start job {prev.name!r} late: {job.name!r} starts {gap:.0f} s "
                "later (under 10 min) and runs first. Use `ekos-occult run` (one job at a "
                "time) to observe both.",
            )
    return notes
