"""The records the night supervisor's state machine works on: states, actions, port results, jobs.

Pure data, no I/O. The rules that move a :class:`Job` from state to state are in
:mod:`ekos_occult.night.supervisor`; the runner that performs the actions is
:mod:`ekos_occult.night.runner`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import Enum
from pathlib import Path

from ekos_occult.kstars.states import SchedulerState, is_scheduler_idle
from ekos_occult.model import PlannedEvent
from ekos_occult.night.ports import (
    JobProgress,
    MountState,
    RecordingState,
)
from ekos_occult.settings import RunSettings
from ekos_occult.video.diskspace import FrameGeometry
from ekos_occult.video.serverify import SerCheck

__all__ = [
    "JobState",
    "Outcome",
    "Reason",
    "Act",
    "Action",
    "Failure",
    "RigStatus",
    "PortResult",
    "Limits",
    "Job",
    "Transition",
]


class JobState(str, Enum):
    """Where one event's job is in the night."""

    PENDING = "pending"
    WAITING = "waiting"
    ARMING = "arming"
    RECORDING = "recording"
    STOPPING = "stopping"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobState.DONE, JobState.SKIPPED, JobState.FAILED)


class Outcome(str, Enum):
    """What the journal says about a finished event."""

    RECORDED = "recorded"
    FAILED = "failed"
    SKIPPED = "skipped"


class Reason(str, Enum):
    """Why an event was not recorded (the journal's ``reason``)."""

    JOB_FAILED = "job failed"
    ALIGNMENT_FAILED = "alignment failed"
    LATE_START = "late start"
    RECORDING_FAILED = "recording failed"
    FILE_INVALID = "file invalid"
    CAMERA_DISCONNECTED = "camera disconnected"
    DISK_FULL = "disk full"
    KSTARS_LOST = "kstars lost"
    INTERRUPTED = "interrupted"
    ALREADY_RECORDED = "already recorded"
    ALREADY_FINISHED = "already finished"
    NOT_SCHEDULED = "not scheduled"


class Act(str, Enum):
    """An action the runner performs through a port (or the clock)."""

    SLEEP = "sleep"
    REATTACH = "reattach"
    QUERY_SCHEDULER = "query_scheduler"
    STOP_SCHEDULER = "stop_scheduler"
    LOAD_JOB = "load_job"
    START_SCHEDULER = "start_scheduler"
    POLL_JOB = "poll_job"
    CHECK_RIG = "check_rig"
    ABORT_CAPTURE = "abort_capture"
    CHECK_DISK = "check_disk"
    CONFIGURE = "configure"
    START_STREAM = "start_stream"
    RECORD = "record"
    POLL_RECORDING = "poll_recording"
    STOP_RECORDING = "stop_recording"
    STOP_STREAM = "stop_stream"
    VERIFY = "verify"


@dataclass(frozen=True)
class Action:
    """One step for the runner.

    ``at`` is the wake-up time for SLEEP, the give-up time for REATTACH, and otherwise the
    planned time of the step (journaled beside the actual time) or None.
    """

    kind: Act
    at: datetime | None = None


class Failure(str, Enum):
    """How a port call failed."""

    TIMEOUT = "timeout"  # EkosTimeout: no answer in time
    UNAVAILABLE = "unavailable"  # EkosUnavailable: KStars left the bus
    NO_DEVICE = "no_device"  # DeviceLost: the camera disconnected
    REFUSED = "refused"  # EkosCommandFailed / RecordingError


@dataclass(frozen=True)
class RigStatus:
    """Everything checked before and at record_start."""

    scheduler: SchedulerState
    capture_idle: bool
    mount: MountState
    camera_connected: bool

    @property
    def is_ekos_quiet(self) -> bool:
        return is_scheduler_idle(self.scheduler) and self.capture_idle


@dataclass(frozen=True)
class PortResult:
    """What the last batch of actions produced: the last action's answer, or the first failure.

    ``kind`` is the action that answered (or failed); only the fields for that kind are set.
    For VERIFY, ``file`` None means no recording was found.
    """

    kind: Act
    failure: Failure | None = None
    error: str = ""
    scheduler: SchedulerState | None = None
    progress: JobProgress | None = None
    rig: RigStatus | None = None
    geometry: FrameGeometry | None = None
    free_bytes: int | None = None
    recording: RecordingState | None = None
    check: SerCheck | None = None
    file: Path | None = None


@dataclass(frozen=True)
class Limits(RunSettings):
    """Timing and safety limits: the ``[run]`` settings (:class:`~ekos_occult.settings.RunSettings`,
    inherited, so their defaults live in one place) plus the supervisor's fixed ones.

    Attributes:
        poll_s: how often job progress, rig and recording state are polled.
        idle_wait_s: how long a stopped scheduler may take to become idle.
        start_grace_s: how long a recording may take to start after the record command.
        finish_grace_s: how long after its planned end a recording may take to finish.
        reattach_every_s: how often to try re-attaching when KStars left the bus.
        pointing_tolerance_deg: mount further than this from the star is flagged.
    """

    poll_s: float = 1.0
    idle_wait_s: float = 30.0
    start_grace_s: float = 5.0
    finish_grace_s: float = 10.0
    reattach_every_s: float = 5.0
    pointing_tolerance_deg: float = 0.5

    @classmethod
    def from_settings(cls, run: RunSettings) -> Limits:
        """Limits from ``Settings.run``; the supervisor's own ones keep their defaults."""
        return cls(**{f.name: getattr(run, f.name) for f in fields(RunSettings)})


@dataclass(frozen=True)
class Job:
    """One event as the supervisor sees it: the planned event, carried whole through the night,
    plus what has happened to it so far.

    Attributes:
        event: the planned event (its times, exposure and star are read from it).
        key: its journal key (name + planned start, :func:`ekos_occult.night.journal.event_key`).
        job_file: the event's single-job .esl, or None to record without an Ekos job.
        previous: outcome already in the journal from an earlier run, if any.
        job_sent_at, job_done, stop_sent_at, record_sent_at: what the supervisor did, when.
        flags: things that went wrong without changing the outcome.
        reason, detail: why the event failed or was skipped.
        check, file: the recording and the verdict on it.
        progress: the Ekos job's last reported progress.
    """

    event: PlannedEvent
    key: str
    job_file: Path | None
    previous: Outcome | None = None
    job_sent_at: datetime | None = None
    job_done: bool = False
    stop_sent_at: datetime | None = None
    record_sent_at: datetime | None = None
    flags: tuple[str, ...] = ()
    reason: Reason | None = None
    detail: str = ""
    check: SerCheck | None = None
    file: Path | None = None
    progress: JobProgress | None = None

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def job_start(self) -> datetime:
        """When the Ekos job starts (planned, UTC)."""
        return self.event.job_start

    @property
    def record_start(self) -> datetime:
        """The recording window's planned start (UTC)."""
        return self.event.event.record_start

    @property
    def record_end(self) -> datetime:
        """The recording window's planned end (UTC)."""
        return self.event.event.record_end

    @property
    def exposure_s(self) -> float:
        """The stream exposure (one frame every ``exposure_s`` seconds)."""
        return self.event.exposure_s

    @property
    def ra_deg(self) -> float:
        """The star's right ascension (J2000, degrees)."""
        return self.event.event.ra_deg

    @property
    def dec_deg(self) -> float:
        """The star's declination (J2000, degrees)."""
        return self.event.event.dec_deg

    @property
    def duration_s(self) -> float:
        return (self.record_end - self.record_start).total_seconds()

    def flag(self, text: str) -> Job:
        """This job with ``text`` added to its flags (once)."""
        return self if text in self.flags else replace(self, flags=(*self.flags, text))


Steps = dict[str, dict[str, datetime | None]]
"""Each step of a job by name: its ``planned`` and ``actual`` UTC time."""


@dataclass(frozen=True)
class EventLine:
    """The journal's ``"type": "event"`` line: how one event ended. Each field is a key of the
    line on disk (``journal.jsonl``), in this order; add a field here to journal more.

    Built from the :class:`Job` the supervisor carried through the night (:meth:`of`); the
    recording's fields are None (lists empty) when there is no checked file.
    """

    name: str
    key: str
    outcome: Outcome
    reason: Reason | None
    detail: str
    file: Path | None
    frames: int | None
    expected_frames: int | None
    dropped_frames: int | None
    gaps: int | None
    gap_list: list[list[int]]
    first_frame_utc: datetime | None
    last_frame_utc: datetime | None
    start_delay_s: float | None
    problems: list[str]
    warnings: list[str]
    job_start: datetime
    record_start: datetime
    record_end: datetime
    exposure_s: float
    timestamp_source: str | None
    flags: list[str]
    steps: Steps

    @classmethod
    def of(cls, job: Job, outcome: Outcome, timestamp_source: str, steps: Steps) -> EventLine:
        """The line for ``job`` ended with ``outcome``; ``timestamp_source`` says where the
        recording's frame times came from (kept only when there is a checked file)."""
        c = job.check
        return cls(
            name=job.name,
            key=job.key,
            outcome=outcome,
            reason=job.reason,
            detail=job.detail,
            file=job.file,
            frames=c.frames if c else None,
            expected_frames=c.expected_frames if c else None,
            dropped_frames=c.dropped_frames if c else None,
            gaps=c.gaps if c else None,
            gap_list=[list(g) for g in c.gap_list] if c else [],
            first_frame_utc=c.first_frame_utc if c else None,
            last_frame_utc=c.last_frame_utc if c else None,
            start_delay_s=c.start_delay_s if c else None,
            problems=list(c.problems) if c else [],
            warnings=list(c.warnings) if c else [],
            job_start=job.job_start,
            record_start=job.record_start,
            record_end=job.record_end,
            exposure_s=job.exposure_s,
            timestamp_source=timestamp_source if c else None,
            flags=list(job.flags),
            steps=dict(steps),
        )

    def fields(self) -> dict[str, object]:
        """The line's keys and values (before JSON encoding), in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Transition:
    """The next state, the updated job and what to do (cleanup only, for a final state)."""

    state: JobState
    job: Job
    actions: tuple[Action, ...] = ()
