"""The ports the night supervisor acts through: EkosPort, RecorderPort, JournalSink (and
:class:`~ekos_occult.clock.Clock`).

The supervisor (:mod:`ekos_occult.night.supervisor`) only knows these Protocols and the small
records
below, all in our own terms. Real adapters: :class:`ekos_occult.clock.SystemClock`, the D-Bus
``EkosClient`` (:mod:`ekos_occult.kstars.client`), the INDI stream recorder
(:mod:`ekos_occult.night.recorder`)
and :class:`ekos_occult.night.journal.Journal`. Tests use the fakes in ``tests/fakes.py``.

Contract shared by every async method of EkosPort and RecorderPort:

- It returns within the adapter's own call timeout; a call that does not answer in time raises
  :class:`~ekos_occult.errors.EkosTimeout` (never hangs for ever).
- KStars gone from the bus raises :class:`~ekos_occult.errors.EkosUnavailable`; the supervisor
  then calls :meth:`EkosPort.reattach` until it returns ``True``.
- The camera disconnected (or its device gone) raises :class:`~ekos_occult.errors.DeviceLost`.
- Ekos or the camera refusing a request raises :class:`~ekos_occult.errors.EkosCommandFailed`
  or :class:`~ekos_occult.errors.RecordingError`.
- No other exception leaves an adapter (D-Bus errors are translated inside it).

The Ekos state enums (``SchedulerState``, ``MountStatus``) are the adapter's own, from
:mod:`ekos_occult.kstars.states`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Protocol, runtime_checkable

from ekos_occult.kstars.states import MountStatus, SchedulerState
from ekos_occult.video.diskspace import FrameGeometry

__all__ = [
    "JobPhase",
    "JobProgress",
    "MountState",
    "RecordingRequest",
    "RecordingState",
    "EkosPort",
    "RecorderPort",
    "JournalSink",
    "ClockSync",
    "ClockSyncReader",
]


class JobPhase(str, Enum):
    """Where the single job loaded by :meth:`EkosPort.load_job` is, as inferred from Ekos.

    ``COMPLETE``, ``FAILED`` and ``ALIGN_FAILED`` are final. The adapter derives the phase from
    integers where KStars gives them (3.7.1+ job state and stage; the Scheduler, Align, Capture
    and Mount status signals), and from the scheduler's English ``newLog`` lines ("Job 'X' is
    complete.", "... marking invalid/aborted", "No jobs left ..." without completion) only as
    the fallback.
    """

    QUEUED = "queued"
    SLEWING = "slewing"
    ALIGNING = "aligning"
    CAPTURING = "capturing"
    COMPLETE = "complete"
    FAILED = "failed"
    ALIGN_FAILED = "align_failed"

    @property
    def is_final(self) -> bool:
        return self in (JobPhase.COMPLETE, JobPhase.FAILED, JobPhase.ALIGN_FAILED)


@dataclass(frozen=True)
class JobProgress:
    """The loaded job's phase and the last Ekos log line that explains it."""

    phase: JobPhase
    detail: str = ""


@dataclass(frozen=True)
class MountState:
    """Where the mount points and whether it tracks.

    Attributes:
        status: Ekos' mount status.
        ra_deg, dec_deg: pointing in **J2000/ICRS degrees** (the adapter converts Ekos' JNow),
            or ``None`` when unknown.
    """

    status: MountStatus
    ra_deg: float | None = None
    dec_deg: float | None = None

    @property
    def is_tracking(self) -> bool:
        return self.status is MountStatus.TRACKING


@dataclass(frozen=True)
class RecordingRequest:
    """What one recording must be.

    Attributes:
        directory: where the recorder writes the file (created by the recorder if missing).
        stem: a path-safe file name stem carrying the event name and planned UTC start; the
            recorder may append its own time stamp and the ``.ser`` suffix.
        exposure_s: the stream exposure (one frame every ``exposure_s`` seconds).
        duration_s: how long the recorder records once started.
        roi: optional ``(x, y, width, height)`` subframe; ``None`` is the full frame.
    """

    directory: Path
    stem: str
    exposure_s: float
    duration_s: float
    roi: tuple[int, int, int, int] | None = None


class RecordingState(str, Enum):
    """What polling the camera's RECORD_STREAM property says (no signal reports progress)."""

    IDLE = "idle"  # nothing started yet
    BUSY = "busy"  # recording
    FINISHED = "finished"  # was recording, now stopped (RECORD_OFF on, state Idle/Ok)
    ALERT = "alert"  # the driver reported an error
    NO_DEVICE = "no_device"  # the camera (or its property) is gone: disconnected


@dataclass(frozen=True)
class ClockSync:
    """The system clock's synchronisation, as the kernel (and chrony, when present) says.

    Attributes:
        synchronised: the kernel's verdict (``adjtimex``: STA_UNSYNC clear and not TIME_ERROR);
            None when it could not be read.
        max_error_s: the kernel's maximum error bound (seconds), None when unknown.
        est_error_s: the kernel's estimated error (seconds), None when unknown.
        source: how it was read (``"adjtimex"``, or why it could not be).
        detail: chrony's (``chronyc -c tracking``) reference, offset and leap status when it
            answered; empty otherwise.
    """

    synchronised: bool | None
    max_error_s: float | None = None
    est_error_s: float | None = None
    source: str = "adjtimex"
    detail: Mapping[str, object] | None = None

    def problems(self, limit_s: float) -> list[str]:
        """What makes event times from this clock doubtful (empty when all is well)."""
        if self.synchronised is None:
            return [f"the clock's synchronisation is unknown ({self.source})"]
        out = []
        if not self.synchronised:
            out.append("the system clock is NOT synchronised (kernel: STA_UNSYNC/TIME_ERROR)")
        if self.max_error_s is not None and self.max_error_s > limit_s:
            out.append(
                f"the clock's maximum error {self.max_error_s:.3f} s is over the "
                f"{limit_s:g} s limit ([camera] max_clock_error_s)"
            )
        return out

    def to_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {
            "synchronised": self.synchronised,
            "max_error_s": self.max_error_s,
            "est_error_s": self.est_error_s,
            "source": self.source,
            "detail": dict(self.detail) if self.detail else None,
        }


@runtime_checkable
class ClockSyncReader(Protocol):
    """Reads the clock's synchronisation state (real: :mod:`ekos_occult.night.timesync`)."""

    def read(self) -> ClockSync:
        """The state now; never raises (an unreadable state is ``synchronised=None``)."""
        ...


@runtime_checkable
class EkosPort(Protocol):
    """What the supervisor needs from KStars/Ekos (one Ekos job per .esl, one .esl per event)."""

    async def load_job(self, path: Path) -> None:
        """Load a single-job scheduler list; only called while the scheduler is idle.

        The adapter forgets the previous job's progress: :meth:`job_progress` now reports this one.
        """
        ...

    async def start_scheduler(self) -> None:
        """Start the Ekos scheduler (it runs the loaded job at its StartAt time)."""
        ...

    async def stop_scheduler(self) -> None:
        """Stop the scheduler (aborts its running job); it becomes idle shortly after."""
        ...

    async def scheduler_state(self) -> SchedulerState:
        """The scheduler's current state."""
        ...

    async def job_progress(self) -> JobProgress:
        """Progress of the job loaded last, accumulated from Ekos signals since the load."""
        ...

    async def is_capture_idle(self) -> bool:
        """True when Ekos Capture is not taking a frame (idle, complete or aborted)."""
        ...

    async def abort_capture(self) -> None:
        """Abort whatever Ekos Capture is doing (an exposure would ruin the recording)."""
        ...

    async def mount_state(self) -> MountState:
        """Mount status and J2000 pointing."""
        ...

    async def is_camera_connected(self) -> bool:
        """True when the recording camera's INDI device is connected."""
        ...

    async def park_mount(self) -> None:
        """Start parking the mount (the night is over); raises when Ekos refuses."""
        ...

    async def reattach(self) -> bool:
        """Try once to attach to KStars/Ekos again after it left the bus.

        Returns:
            True when KStars is back and every object the supervisor uses answers; False when
            it is not back yet (never raises EkosUnavailable).
        """
        ...


@runtime_checkable
class RecorderPort(Protocol):
    """The camera's video-stream recorder (INDI stream properties driven through KStars)."""

    @property
    def timestamp_source(self) -> str:
        """Where per-frame timestamps come from, e.g. ``"host clock"`` or ``"GPS"``."""
        ...

    @property
    def files_host(self) -> str | None:
        """The host the recordings are written on when it is not this machine (INDI on
        another host, Ekos remote mode); None when they are on this machine's disk."""
        ...

    async def frame_geometry(self, roi: tuple[int, int, int, int] | None) -> FrameGeometry:
        """Size of one recorded frame with the given ROI."""
        ...

    async def free_bytes(self, directory: Path) -> int:
        """Free space where the recordings are written."""
        ...

    async def configure(self, request: RecordingRequest) -> None:
        """Set stream exposure, record directory and file name, duration and ROI."""
        ...

    async def start_stream(self) -> None:
        """Switch the video stream on (pre-roll: the first recorded frame is not a cold start)."""
        ...

    async def start_recording(self) -> None:
        """Send the record command (record for the configured duration). Returns at once."""
        ...

    async def recording_state(self) -> RecordingState:
        """Poll the recording's state."""
        ...

    async def stop_recording(self) -> None:
        """Stop a recording early (the file is closed properly)."""
        ...

    async def stop_stream(self) -> None:
        """Switch the video stream off."""
        ...

    async def find_recording(self, request: RecordingRequest, started: datetime) -> Path | None:
        """The SER file the recording made (written at or after ``started``), or None.

        Should work from the file system alone (``request.directory``): the file may have to be
        found after KStars has gone.
        """
        ...


@runtime_checkable
class JournalSink(Protocol):
    """Receives the supervisor's journal entries (JSON-ready mappings), one at a time."""

    def append(self, entry: Mapping[str, object]) -> None:
        """Record one entry; a durable sink has it on disk when this returns."""
        ...

    def close(self) -> None:
        """No more entries will come."""
        ...
