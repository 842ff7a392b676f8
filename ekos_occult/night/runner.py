"""The night runner: drives every event's job through
:func:`~ekos_occult.night.supervisor.transition` and journals each change.

One event at a time, in plan order; whatever happens to one event (failure, KStars gone, camera
gone), the next one is attempted. Cancelling the task (Ctrl-C) stops any recording and the stream,
journals the interruption and closes the journal. The work is shared with:

- :mod:`~ekos_occult.night.actions`: the supervisor's actions performed through the ports;
- :mod:`~ekos_occult.night.verification`: each recording judged (on disk, through a mount, by
  INDI's report);
- :mod:`~ekos_occult.night.eventtiming`: the clock, frame stamps and verification of each
  event line;
- :mod:`~ekos_occult.night.fanout`: every entry to the journal and the live views.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ekos_occult.clock import Clock
from ekos_occult.errors import EkosError
from ekos_occult.model import Plan, PlannedEvent
from ekos_occult.night.actions import ActionPerformer
from ekos_occult.night.eventtiming import EventTiming
from ekos_occult.night.fanout import JournalFanout
from ekos_occult.night.journal import event_key, finished_events
from ekos_occult.night.ports import ClockSyncReader, EkosPort, JournalSink, RecorderPort
from ekos_occult.night.records import (
    Action,
    EventLine,
    Job,
    JobState,
    Limits,
    Outcome,
    PortResult,
    Reason,
)
from ekos_occult.night.supervisor import cleanup_for, transition
from ekos_occult.settings import CameraSettings

__all__ = ["JobFiles", "EventResult", "NightRunner", "make_job"]

JobFiles = Mapping[str, Path] | Callable[[PlannedEvent], "Path | None"]
"""Each event's single-job .esl: by event name, or a function of the planned event."""

_OUTCOMES = {
    JobState.DONE: Outcome.RECORDED,
    JobState.FAILED: Outcome.FAILED,
    JobState.SKIPPED: Outcome.SKIPPED,
}
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
        clock_sync: reads the clock's synchronisation before each recording (None: not read).
        max_clock_error_s: a clock error bound above this flags the recording.
        camera: the ``[camera]`` settings: each host-stamped recording's journal line says which
            timing model reduce will apply by default (None: not said).
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
        camera: CameraSettings | None = None,
    ) -> None:
        self.plan, self.ekos, self.recorder, self.clock = plan, ekos, recorder, clock
        self.limits = limits or Limits()
        self._out = JournalFanout(journal, observers, clock.now)
        self._emit = self._out.emit
        self._timing = EventTiming(
            recorder, clock_sync, max_clock_error_s, clock.now, self._emit, camera
        )
        self._actions = ActionPerformer(
            ekos=ekos,
            recorder=recorder,
            clock=clock,
            limits=self.limits,
            recordings_dir=recordings_dir,
            roi=roi,
            timing=self._timing,
            emit=self._emit,
        )
        self._job_files = job_files
        self._done = finished_events(previous)
        self._state: JobState = JobState.PENDING
        self._job: Job | None = None

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
            self._out.close()
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
        self._actions.new_job()
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
                await self._actions.cleanup(job, tr.actions)
                silent = state is JobState.SKIPPED and job.previous is not None
                return self._finish(state, job, journal_line=not silent)
            result = await self._actions.perform(job, tr.actions)

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
            steps = self._actions.steps
            line = EventLine.of(job, outcome, self.recorder.timestamp_source, steps)
            self._emit("event", **self._timing.fields(job, line.fields()))
        return EventResult(job.name, job.key, outcome, job.reason, job.detail, job.file, job.flags)

    async def _interrupted(self) -> None:
        job, state = self._job, self._state
        if job is not None and not state.is_final:
            await self._actions.cleanup(job, [Action(a) for a in cleanup_for(state)])
            failed = replace(job, reason=Reason.INTERRUPTED, detail="stopped by the user")
            self._journal_change(state, job, JobState.FAILED, failed)
            self._finish(JobState.FAILED, failed, journal_line=True)
        self._emit("night", what="interrupted")


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
