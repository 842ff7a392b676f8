"""The supervisor's actions performed through the ports, and what each produced.

:class:`ActionPerformer` turns each :class:`~ekos_occult.night.records.Action` the pure
supervisor asks for (load the job, poll it, check the rig and the disk, configure, stream,
record, verify, re-attach, sleep on the clock...) into calls of the Ekos and recorder ports,
and their answers or errors into one :class:`~ekos_occult.night.records.PortResult`: the
supervisor's only input. Port errors become failures in its terms (KStars gone, a timeout, the
camera gone, a refusal), never exceptions; "KStars lost" and "KStars back" are journaled once
each. It also notes when each step really happened (the event line's ``steps``), and names the
recording (:func:`recording_request`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ekos_occult.clock import Clock
from ekos_occult.ekosfiles.naming import sanitize_component
from ekos_occult.errors import (
    DeviceLost,
    EkosError,
    EkosTimeout,
    EkosUnavailable,
    RecordingError,
)
from ekos_occult.night.eventtiming import EventTiming
from ekos_occult.night.ports import (
    EkosPort,
    JobPhase,
    RecorderPort,
    RecordingRequest,
    RecordingState,
)
from ekos_occult.night.records import Act, Action, Failure, Job, Limits, PortResult, RigStatus
from ekos_occult.night.verification import verify_recording
from ekos_occult.video.serverify import SerExpectation

__all__ = ["ActionPerformer", "recording_request"]

_STEP_ACTIONS = frozenset(
    {
        Act.LOAD_JOB,
        Act.START_SCHEDULER,
        Act.START_STREAM,
        Act.RECORD,
        Act.STOP_RECORDING,
        Act.STOP_STREAM,
        Act.VERIFY,
    }
)
Roi = tuple[int, int, int, int]


def recording_request(job: Job, directory: Path, roi: Roi | None = None) -> RecordingRequest:
    """The recording for a job: file stem = safe event name + planned UTC start."""
    stem = sanitize_component(f"{job.name}_{job.record_start:%Y%m%dT%H%M%SZ}").replace(" ", "_")
    return RecordingRequest(directory, stem, job.exposure_s, job.duration_s, roi)


class ActionPerformer:
    """Performs the supervisor's actions through the ports.

    Args:
        ekos, recorder, clock: the ports.
        limits: timing and safety limits (re-attach interval, timestamp tolerance).
        recordings_dir: where the recordings go.
        roi: optional recording subframe ``(x, y, w, h)``.
        timing: keeps the clock, stamps and verification of each event for its line.
        emit: journals one entry (``emit(kind, **fields)``).
    """

    def __init__(
        self,
        *,
        ekos: EkosPort,
        recorder: RecorderPort,
        clock: Clock,
        limits: Limits,
        recordings_dir: Path,
        roi: Roi | None,
        timing: EventTiming,
        emit: Callable[..., None],
    ) -> None:
        self.ekos, self.recorder, self.clock, self.limits = ekos, recorder, clock, limits
        self._dir, self._roi, self._timing, self._emit = recordings_dir, roi, timing, emit
        self._lost = False
        self.steps: dict[str, dict[str, datetime | None]] = {}

    def new_job(self) -> None:
        """Forget the previous job's steps."""
        self.steps = {}

    def request(self, job: Job) -> RecordingRequest:
        """The recording ``job`` makes."""
        return recording_request(job, self._dir, self._roi)

    async def perform(self, job: Job, actions: Sequence[Action]) -> PortResult:
        """Perform actions in order; stop at the first failure and report it."""
        result = PortResult(Act.SLEEP)
        for action in actions:
            try:
                result = await self.do(job, action)
            except (EkosError, RecordingError, OSError) as exc:  # OSError: a disk, a folder
                return self._failed(action, exc)
            if result.failure is not None:
                return result
        return result

    async def cleanup(self, job: Job, actions: Sequence[Action]) -> None:
        """Undo what a failed or interrupted job left running; failures here change nothing
        (each is journaled as a note)."""
        for action in actions:
            try:
                await self.do(job, action)
            except (EkosError, RecordingError, OSError) as exc:  # OSError: a disk, a folder
                self._emit("note", what=f"cleanup {action.kind.value} failed: {exc}")

    def _failed(self, action: Action, exc: Exception) -> PortResult:
        if isinstance(exc, EkosUnavailable):
            failure = Failure.UNAVAILABLE
            if not self._lost:
                self._lost = True
                self._emit("night", what="kstars lost", detail=str(exc))
        elif isinstance(exc, EkosTimeout):
            failure = Failure.TIMEOUT
        elif isinstance(exc, DeviceLost):
            failure = Failure.NO_DEVICE
        else:
            failure = Failure.REFUSED
        return PortResult(action.kind, failure=failure, error=str(exc))

    def _step(self, name: str, planned: datetime | None) -> None:
        self.steps.setdefault(name, {"planned": planned, "actual": self.clock.now()})

    async def do(self, job: Job, action: Action) -> PortResult:
        """Perform one action (errors of the ports propagate)."""
        if action.kind in _STEP_ACTIONS:
            self._step(action.kind.value, action.at)
        handler = self._handlers()[action.kind]
        return await handler(job, action)

    def _handlers(self) -> dict[Act, Callable[[Job, Action], Awaitable[PortResult]]]:
        e, r = self.ekos, self.recorder

        async def call(kind: Act, coro: Awaitable[None]) -> PortResult:
            await coro
            return PortResult(kind)

        return {
            Act.SLEEP: self._sleep,
            Act.REATTACH: self._reattach,
            Act.QUERY_SCHEDULER: self._query_scheduler,
            Act.STOP_SCHEDULER: lambda j, a: call(a.kind, e.stop_scheduler()),
            Act.LOAD_JOB: lambda j, a: call(a.kind, e.load_job(_path(j))),
            Act.START_SCHEDULER: lambda j, a: call(a.kind, e.start_scheduler()),
            Act.POLL_JOB: self._poll_job,
            Act.CHECK_RIG: self._check_rig,
            Act.ABORT_CAPTURE: lambda j, a: call(a.kind, e.abort_capture()),
            Act.CHECK_DISK: self._check_disk,
            Act.CONFIGURE: self._configure,
            Act.START_STREAM: lambda j, a: call(a.kind, r.start_stream()),
            Act.RECORD: lambda j, a: call(a.kind, r.start_recording()),
            Act.POLL_RECORDING: self._poll_recording,
            Act.STOP_RECORDING: lambda j, a: call(a.kind, r.stop_recording()),
            Act.STOP_STREAM: lambda j, a: call(a.kind, r.stop_stream()),
            Act.VERIFY: self._verify,
        }

    async def _configure(self, job: Job, action: Action) -> PortResult:
        """Read and journal the clock and the frame stamps, then configure the recorder."""
        await self._timing.before_recording(job)
        await self.recorder.configure(self.request(job))
        return PortResult(action.kind)

    async def _sleep(self, job: Job, action: Action) -> PortResult:
        if action.at is not None:
            await self.clock.sleep_until(action.at)
        return PortResult(Act.SLEEP)

    async def _reattach(self, job: Job, action: Action) -> PortResult:
        give_up = action.at or self.clock.now()
        every = timedelta(seconds=self.limits.reattach_every_s)
        while True:
            try:
                back = await self.ekos.reattach()
            except EkosError:
                back = False
            if back:
                self._lost = False
                self._emit("night", what="kstars back")
                return PortResult(Act.REATTACH)
            now = self.clock.now()
            if now >= give_up:
                return PortResult(Act.REATTACH, Failure.UNAVAILABLE, "KStars is not back")
            await self.clock.sleep_until(min(now + every, give_up))

    async def _query_scheduler(self, job: Job, action: Action) -> PortResult:
        return PortResult(action.kind, scheduler=await self.ekos.scheduler_state())

    async def _poll_job(self, job: Job, action: Action) -> PortResult:
        progress = await self.ekos.job_progress()
        if progress.phase is JobPhase.COMPLETE:
            self._step("job_complete", None)
        return PortResult(action.kind, progress=progress)

    async def _check_rig(self, job: Job, action: Action) -> PortResult:
        e = self.ekos
        rig = RigStatus(
            scheduler=await e.scheduler_state(),
            capture_idle=await e.is_capture_idle(),
            mount=await e.mount_state(),
            camera_connected=await e.is_camera_connected(),
        )
        return PortResult(action.kind, rig=rig)

    async def _check_disk(self, job: Job, action: Action) -> PortResult:
        geometry = await self.recorder.frame_geometry(self._roi)
        free = await self.recorder.free_bytes(self._dir)
        return PortResult(action.kind, geometry=geometry, free_bytes=free)

    async def _poll_recording(self, job: Job, action: Action) -> PortResult:
        state = await self.recorder.recording_state()
        if state is RecordingState.FINISHED:
            self._step("recording_finished", job.record_end)
        return PortResult(action.kind, recording=state)

    async def _verify(self, job: Job, action: Action) -> PortResult:
        started = job.record_sent_at or job.record_start
        start = max(job.record_start, started)
        expect = SerExpectation(
            record_start=start,
            record_end=start + timedelta(seconds=job.duration_s),
            exposure_s=job.exposure_s,
            tolerance_s=self.limits.record_timestamp_tolerance_s,
        )
        found = await verify_recording(self.recorder, self.request(job), expect, started)
        self._timing.verified(job.key, found.journal())
        if found.check is None:
            return PortResult(action.kind)
        return PortResult(action.kind, check=found.check, file=found.file)


def _path(job: Job) -> Path:
    if job.job_file is None:
        raise RuntimeError(f"{job.name}: no job file to load")
    return job.job_file
