"""The night runner: drives every event's job through
:func:`~ekos_occult.night.supervisor.transition`,
performing its actions through the ports, sleeping on the injected clock, journaling each change.

One event at a time, in plan order; whatever happens to one event (failure, KStars gone, camera
gone), the next one is attempted. Cancelling the task (Ctrl-C) stops any recording and the stream,
journals the interruption and closes the journal.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ekos_occult.clock import Clock
from ekos_occult.ekosfiles.naming import sanitize_component
from ekos_occult.errors import (
    DeviceLost,
    EkosError,
    EkosTimeout,
    EkosUnavailable,
    RecordingError,
)
from ekos_occult.model import Plan, PlannedEvent
from ekos_occult.night.journal import event_key, finished_events, to_json
from ekos_occult.night.ports import (
    ClockSyncReader,
    EkosPort,
    JobPhase,
    JournalSink,
    RecorderPort,
    RecordingRequest,
    RecordingState,
)
from ekos_occult.night.records import (
    Act,
    Action,
    EventLine,
    Failure,
    Job,
    JobState,
    Limits,
    Outcome,
    PortResult,
    Reason,
    RigStatus,
)
from ekos_occult.night.supervisor import cleanup_for, transition
from ekos_occult.night.verification import verify_recording
from ekos_occult.video.serverify import SerExpectation

__all__ = ["JobFiles", "EventResult", "NightRunner", "make_job", "recording_request"]

JobFiles = Mapping[str, Path] | Callable[[PlannedEvent], "Path | None"]
"""Each event's single-job .esl: by event name, or a function of the planned event."""

_OUTCOMES = {
    JobState.DONE: Outcome.RECORDED,
    JobState.FAILED: Outcome.FAILED,
    JobState.SKIPPED: Outcome.SKIPPED,
}
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
_MAX_STEPS_PER_INSTANT = 1000  # a loop that never sleeps is a bug, not a night


@dataclass(frozen=True)
class EventResult:
    """How one event ended in this run."""

    name: str
    key: str
    outcome: Outcome
    reason: Reason | None
    detail: str
    file: Path | None
    flags: tuple[str, ...]


def make_job(ev: PlannedEvent, job_file: Path | None, previous: Outcome | None = None) -> Job:
    """The supervisor's view of a planned event."""
    return Job(ev, event_key(ev.name, ev.event.record_start), job_file, previous)


def recording_request(
    job: Job, directory: Path, roi: tuple[int, int, int, int] | None = None
) -> RecordingRequest:
    """The recording for a job: file stem = safe event name + planned UTC start."""
    stem = sanitize_component(f"{job.name}_{job.record_start:%Y%m%dT%H%M%SZ}").replace(" ", "_")
    return RecordingRequest(directory, stem, job.exposure_s, job.duration_s, roi)


class NightRunner:
    """Runs a night's plan through the ports.

    Args:
        plan: the night's plan; scheduled events are supervised, skipped ones journaled.
        ekos, recorder, clock: the ports.
        journal: the durable journal (closed when the night ends, however it ends).
        job_files: each event's single-job .esl (see :data:`JobFiles`).
        recordings_dir: where the recordings go.
        limits: timing and safety limits.
        roi: optional recording subframe ``(x, y, w, h)``.
        previous: journal entries of earlier runs of this night (resume).
        observers: more sinks fed every entry (live view); closed with the journal.
    """

    def __init__(
        self,
        plan: Plan,
        *,
        ekos: EkosPort,
        recorder: RecorderPort,
        clock: Clock,
        journal: JournalSink,
        job_files: JobFiles,
        recordings_dir: Path,
        limits: Limits | None = None,
        roi: tuple[int, int, int, int] | None = None,
        previous: Iterable[Mapping[str, Any]] = (),
        observers: Sequence[JournalSink] = (),
        clock_sync: ClockSyncReader | None = None,
        max_clock_error_s: float = 0.1,
    ) -> None:
        self.plan, self.ekos, self.recorder, self.clock = plan, ekos, recorder, clock
        self._clock_sync, self._max_clock_error_s = clock_sync, max_clock_error_s
        self._clock_at: dict[str, dict[str, Any]] = {}  # event key -> clock before recording
        self._stamps_at: dict[str, dict[str, Any]] = {}  # event key -> what stamps the frames
        self._verified_at: dict[str, dict[str, Any]] = {}  # event key -> how the file was judged
        self.limits = limits or Limits()
        self._sinks: tuple[JournalSink, ...] = (journal, *observers)
        self._job_files, self._dir, self._roi = job_files, recordings_dir, roi
        self._done = finished_events(previous)
        self._lost = False
        self._state: JobState = JobState.PENDING
        self._job: Job | None = None
        self._steps: dict[str, dict[str, datetime | None]] = {}

    def _emit(self, kind: str, **fields: Any) -> None:
        # Every sink gets plain JSON values: the live view sees exactly what the journal keeps.
        entry = json.loads(to_json({"type": kind, "at": self.clock.now(), **fields}))
        for sink in self._sinks:
            try:
                sink.append(entry)
            except OSError as exc:  # a live view on a full disk or a closed pipe: go on
                self._drop(sink, exc)

    def _drop(self, sink: JournalSink, exc: OSError) -> None:
        """Stop feeding a sink whose writes fail (the journal itself never raises OSError)."""
        self._sinks = tuple(s for s in self._sinks if s is not sink)
        try:
            print(f"ekos-occult run: a night view stopped: {exc}", file=sys.stderr)
        except (OSError, ValueError):
            pass

    def _close_sinks(self) -> None:
        for sink in self._sinks:
            try:
                sink.close()
            except OSError as exc:  # never hide the night's own error behind a close
                self._drop(sink, exc)

    async def run(self) -> list[EventResult]:
        """Supervise every event of the plan in order; return how each ended.

        Raises:
            asyncio.CancelledError: after a clean stop, when the task is cancelled (Ctrl-C).
        """
        results: list[EventResult] = []
        self._emit("night", what="start", events=[_describe(ev) for ev in self.plan.events])
        try:
            for ev in self.plan.events:
                results.append(await self._run_one(ev))
        except asyncio.CancelledError:
            await self._interrupted()
            raise
        else:
            await self._park()
            self._emit("night", what="end", summary=_summary(results))
        finally:
            self._close_sinks()
        return results

    async def _park(self) -> None:
        """Park the mount at the end of the night (``[run] park_at_end``), journaled: without
        it the mount keeps tracking the last star (``docs/kstars-facts.md`` §10).

        A refusal or a KStars that is gone is journaled and changes no event's outcome.
        """
        if not self.limits.park_at_end:
            return
        try:
            await self.ekos.park_mount()
        except EkosError as exc:
            self._emit("night", what="park failed", detail=str(exc))
        else:
            self._emit("night", what="park", detail="the mount was sent to park")

    def _job_file(self, ev: PlannedEvent) -> Path | None:
        if callable(self._job_files):
            return self._job_files(ev)
        return self._job_files.get(ev.name)

    async def _run_one(self, ev: PlannedEvent) -> EventResult:
        prev_entry = self._done.get(event_key(ev.name, ev.event.record_start))
        previous = Outcome(prev_entry["outcome"]) if prev_entry else None
        if not ev.is_scheduled:
            job = make_job(ev, None, previous)
            job = replace(job, reason=Reason.NOT_SCHEDULED, detail=ev.detail)
            return self._finish(JobState.SKIPPED, job, journal_line=previous is None)
        job = make_job(ev, self._job_file(ev), previous)
        return await self._supervise(job)

    async def _supervise(self, job: Job) -> EventResult:
        state: JobState = JobState.PENDING
        result: PortResult | None = None
        self._steps = {}
        spins, last_now = 0, self.clock.now()
        while True:
            now = self.clock.now()
            spins = spins + 1 if now == last_now else 0
            last_now = now
            if spins > _MAX_STEPS_PER_INSTANT:
                raise RuntimeError(f"supervisor loop without progress in state {state.value}")
            tr = transition(state, now, job, result, self.limits)
            self._journal_change(state, job, tr.state, tr.job)
            state, job = tr.state, tr.job
            self._state, self._job = state, job
            if state.is_final:
                await self._cleanup(tr.actions)
                silent = state is JobState.SKIPPED and job.previous is not None
                return self._finish(state, job, journal_line=not silent)
            result = await self._perform(job, tr.actions)

    def _journal_change(self, old: JobState, old_job: Job, new: JobState, job: Job) -> None:
        if job.progress is not None and job.progress != old_job.progress:
            self._emit(
                "progress",
                name=job.name,
                key=job.key,
                phase=job.progress.phase,
                detail=job.progress.detail,
            )
        new_flags = [f for f in job.flags if f not in old_job.flags]
        if new == old and not new_flags:
            return
        self._emit(
            "transition",
            name=job.name,
            key=job.key,
            **{"from": old, "to": new},
            reason=job.reason if new.is_final else None,
            detail=job.detail if new.is_final else "",
            flags=new_flags,
        )

    def _finish(self, state: JobState, job: Job, *, journal_line: bool) -> EventResult:
        outcome = _OUTCOMES[state]
        if journal_line:
            line = EventLine.of(job, outcome, self.recorder.timestamp_source, self._steps)
            self._emit("event", **self._timing_fields(job, line.fields()))
        return EventResult(job.name, job.key, outcome, job.reason, job.detail, job.file, job.flags)

    def _timing_fields(self, job: Job, fields: dict[str, Any]) -> dict[str, Any]:
        """The event line with the clock before its recording and what stamped its frames."""
        clock = self._clock_at.get(job.key)
        out = dict(fields)
        out["clock"] = clock
        if clock is not None and clock.get("problems"):
            out["flags"] = [*out.get("flags", []), *clock["problems"]]
        stamps = dict(self._stamps_at.get(job.key) or {})
        if job.check is not None:
            stamps.setdefault("source", _stamp_kind(self.recorder.timestamp_source))
            stamps["exposure_s"] = job.exposure_s
            stamps["frame_interval"] = _interval_stats(job)
        out["timestamps"] = stamps or None
        out["verified"] = self._verified_at.get(job.key)
        return out

    async def _journal_clock(self, job: Job) -> None:
        """Read the clock's synchronisation before a recording; journal it (flag if doubtful)."""
        stamps: dict[str, Any] = {"source": _stamp_kind(self.recorder.timestamp_source)}
        describe = getattr(self.recorder, "stamp_provenance", None)
        if describe is not None:
            try:
                stamps = dict(await describe())
            except (EkosError, RecordingError) as exc:
                stamps["detail"] = f"the camera's GPS state could not be read: {exc}"
        self._stamps_at[job.key] = stamps
        if self._clock_sync is None:
            return
        state = await asyncio.to_thread(self._clock_sync.read)
        problems = state.problems(self._max_clock_error_s)
        entry = {**state.to_dict(), "problems": problems, "at": self.clock.now()}
        self._clock_at[job.key] = json.loads(to_json(entry))
        self._emit("clock", name=job.name, key=job.key, **state.to_dict(), problems=problems)

    async def _cleanup(self, actions: Sequence[Action]) -> None:
        """Undo what a failed or interrupted job left running; failures here change nothing."""
        for action in actions:
            try:
                await self._do(self._job_or_fail(), action)
            except (EkosError, RecordingError, OSError) as exc:  # OSError: a disk, a folder
                self._emit("note", what=f"cleanup {action.kind.value} failed: {exc}")

    def _job_or_fail(self) -> Job:
        if self._job is None:
            raise RuntimeError("no current job")
        return self._job

    async def _interrupted(self) -> None:
        job, state = self._job, self._state
        if job is not None and not state.is_final:
            await self._cleanup([Action(a) for a in cleanup_for(state)])
            failed = replace(job, reason=Reason.INTERRUPTED, detail="stopped by the user")
            self._journal_change(state, job, JobState.FAILED, failed)
            self._finish(JobState.FAILED, failed, journal_line=True)
        self._emit("night", what="interrupted")

    async def _perform(self, job: Job, actions: Sequence[Action]) -> PortResult:
        """Perform actions in order; stop at the first failure and report it."""
        result = PortResult(Act.SLEEP)
        for action in actions:
            try:
                result = await self._do(job, action)
            except (EkosError, RecordingError, OSError) as exc:  # OSError: a disk, a folder
                return self._failed(action, exc)
            if result.failure is not None:
                return result
        return result

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
        self._steps.setdefault(name, {"planned": planned, "actual": self.clock.now()})

    async def _do(self, job: Job, action: Action) -> PortResult:
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

    def _request(self, job: Job) -> RecordingRequest:
        return recording_request(job, self._dir, self._roi)

    async def _configure(self, job: Job, action: Action) -> PortResult:
        """Read and journal the clock, then configure the recorder."""
        await self._journal_clock(job)
        await self.recorder.configure(self._request(job))
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
        found = await verify_recording(self.recorder, self._request(job), expect, started)
        self._verified_at[job.key] = found.journal()
        if found.check is None:
            return PortResult(action.kind)
        return PortResult(action.kind, check=found.check, file=found.file)


def _path(job: Job) -> Path:
    if job.job_file is None:
        raise RuntimeError(f"{job.name}: no job file to load")
    return job.job_file


def _describe(ev: PlannedEvent) -> dict[str, Any]:
    e = ev.event
    return {
        "name": e.name,
        "key": event_key(e.name, e.record_start),
        "status": ev.status,
        "job_start": ev.job_start,
        "record_start": e.record_start,
        "record_end": e.record_end,
        "exposure_s": ev.exposure_s,
    }


def _summary(results: Sequence[EventResult]) -> dict[str, int]:
    return {o.value: sum(1 for r in results if r.outcome is o) for o in Outcome}


def _stamp_kind(recorder_source: str) -> str:
    """The recorder's word for its stamps in reduce's terms (see reduce/timestamps.py)."""
    return "GPS exposure start" if "gps" in recorder_source.lower() else "host write time"


def _interval_stats(job: Job) -> dict[str, Any] | None:
    """Mean frame interval of a recording from its first and last stamps and its frame count."""
    c = job.check
    if c is None or c.first_frame_utc is None or c.last_frame_utc is None or c.frames < 2:
        return None
    span = (c.last_frame_utc - c.first_frame_utc).total_seconds()
    intervals = c.frames - 1 + c.dropped_frames
    return {
        "mean_s": round(span / intervals, 7),
        "frames": c.frames,
        "dropped_frames": c.dropped_frames,
        "gaps": c.gaps,
    }
