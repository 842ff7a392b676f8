"""The night supervisor's state machine: a pure transition function, no I/O, no clock.

Each scheduled event becomes a :class:`Job` that moves through :class:`JobState`::

    pending ─▶ waiting ─▶ arming ─▶ recording ─▶ stopping ─▶ done
       │          │          │           │            │
       └──────────┴──────────┴───────────┴────────────┴─▶ failed / skipped

:func:`transition` maps ``(state, now, job, last port result)`` to the next state, the updated job
and the actions to perform; :mod:`ekos_occult.night.runner` performs them through the ports, sleeps
with
the injected clock and journals every change of state.

Timing decisions (``Limits`` come from ``Settings.run``):

- **job_start** (planned ``record_start - lead``): make sure the scheduler is idle (stop it and
  wait up to ``idle_wait_s`` if not), load the event's single-job .esl, start the scheduler, then
  poll the job's progress every ``poll_s``.
- **Job finished**: sleep until ``preroll_at = record_start - stream_preroll_s``.
- **Overrun**: the event window wins. If the Ekos job has not finished at ``preroll_at`` the
  scheduler is stopped and the recording goes ahead, flagged. A job that neither finishes nor
  fails within ``job_timeout_s`` of its start fails the event (``job failed``). When ``now`` is
  already past ``preroll_at`` at job_start there is no time for a job: the supervisor arms at
  once and flags it.
- **preroll_at** (arming): record only when the scheduler is idle, Capture is idle (both are
  stopped/aborted if not, re-checked every ``poll_s`` up to record_start; at record_start the
  recording goes ahead anyway, flagged) and the camera is connected; check the disk; configure
  the stream and start it.
- **record_start**: sleep until ``record_start`` and send the record command immediately after
  waking (nothing is journaled in between). Then the mount is checked: not tracking or further
  than ``pointing_tolerance_deg`` from the star is flagged, never a reason not to record.
- **Recording**: poll the recording every ``poll_s``. It must finish by
  ``max(record_end, sent + duration) + finish_grace_s``; otherwise it is stopped and flagged.
- **Late start**: if ``record_start + late_start_s`` has passed before the record command could
  be sent, the event fails with ``late start``; within that limit a late recording is flagged.
- **Ekos job failures never cost the recording**: Align failing (flagged "pointing not
  plate-solved"), the job failing otherwise, or not finishing within ``job_timeout_s``: the
  scheduler is stopped and the event is recorded at preroll at the mount's (slewed) position,
  flagged.
- **A usable file is a recording**: a SER with frames and timestamps is ``recorded`` even when
  frames were dropped or the window is short (flagged with the count and where the gaps are);
  the event is ``failed`` only when there is no file, or none with a usable frame.
- **Failures**: a failed command (load, start, configure, stream, record) fails the event with
  its reason and cleans up (scheduler or stream stopped); a failed *query* (status, progress,
  rig check, recording state) or a failed stop is retried at the next poll, bounded by the
  deadlines above. KStars leaving the bus before the recording is armed sends the job back to
  ``pending`` to re-attach (until ``record_start + late_start_s``); after that, the event fails
  with ``kstars lost``. The night always goes on with the next event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from ekos_occult.kstars.states import SchedulerState, is_scheduler_idle
from ekos_occult.night.ports import JobPhase, RecordingState
from ekos_occult.night.records import (
    Act,
    Action,
    Failure,
    Job,
    JobState,
    Limits,
    Outcome,
    PortResult,
    Reason,
    RigStatus,
    Transition,
)
from ekos_occult.sphere import angular_separation_deg
from ekos_occult.video.diskspace import estimate_recording_bytes, judge_space

__all__ = [
    "transition",
    "cleanup_for",
    "finish_by",
]

NOT_PLATE_SOLVED = "pointing not plate-solved"
"""Flag of an event recorded at the slewed position after Ekos' Align failed."""

_P, _W, _A, _R, _S = (
    JobState.PENDING,
    JobState.WAITING,
    JobState.ARMING,
    JobState.RECORDING,
    JobState.STOPPING,
)

# Queries and stops: a failure is retried at the next poll (deadlines bound the retries).
_RETRIED = frozenset(
    {
        Act.QUERY_SCHEDULER,
        Act.POLL_JOB,
        Act.CHECK_RIG,
        Act.POLL_RECORDING,
        Act.STOP_SCHEDULER,
        Act.ABORT_CAPTURE,
        Act.CHECK_DISK,
        Act.STOP_RECORDING,
        Act.STOP_STREAM,
    }
)

_CLEANUP: dict[JobState, tuple[Act, ...]] = {
    _P: (),
    _W: (Act.STOP_SCHEDULER,),
    _A: (Act.STOP_STREAM,),
    _R: (Act.STOP_RECORDING, Act.STOP_STREAM),
    _S: (Act.STOP_STREAM,),
}


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _go(state: JobState, job: Job, *actions: Action) -> Transition:
    return Transition(state, job, actions)


def _fail(job: Job, reason: Reason, detail: str, *cleanup: Act) -> Transition:
    job = replace(job, reason=reason, detail=detail)
    return Transition(JobState.FAILED, job, tuple(Action(a) for a in cleanup))


def _preroll_at(job: Job, lim: Limits) -> datetime:
    return job.record_start - _s(lim.stream_preroll_s)


def _deadline(job: Job, lim: Limits) -> datetime:
    return job.record_start + _s(lim.late_start_s)


def _sleep(now: datetime, lim: Limits, *limits: datetime) -> Action:
    return Action(Act.SLEEP, min((now + _s(lim.poll_s), *limits)))


def cleanup_for(state: JobState) -> tuple[Act, ...]:
    """What to undo when a job in ``state`` is abandoned (Ctrl-C, failure)."""
    return _CLEANUP.get(state, ())


def finish_by(job: Job, lim: Limits) -> datetime:
    """When a recording must have finished: the planned end (or sent + duration, if later)
    plus ``finish_grace_s``."""
    end = job.record_end
    if job.record_sent_at is not None:
        end = max(end, job.record_sent_at + _s(job.duration_s))
    return end + _s(lim.finish_grace_s)


def transition(
    state: JobState,
    now: datetime,
    job: Job,
    result: PortResult | None,
    limits: Limits | None = None,
) -> Transition:
    """Decide what happens next to one event's job (pure: same inputs, same answer).

    Args:
        state: the job's current state.
        now: the current UTC time (from the runner's clock).
        job: the event's plan and the facts gathered so far.
        result: what the last batch of actions produced; None when the job is new.
        limits: timing and safety limits (defaults when None).

    Returns:
        The next state, the updated job and the actions to perform in order. For a final
        state the actions are cleanup, whose failures do not matter.
    """
    lim = limits or Limits()
    if state.is_final:
        return _go(state, job)
    if result is not None and result.failure is not None:
        return _on_failure(state, now, job, result, lim)
    return _HANDLERS[state](now, job, result, lim)


def _on_failure(state: JobState, now: datetime, job: Job, r: PortResult, lim: Limits) -> Transition:
    failure = r.failure
    assert failure is not None
    what = f"{r.kind.value} failed ({failure.value}): {r.error}".rstrip(": ")
    if failure is Failure.NO_DEVICE:
        return _fail(job, Reason.CAMERA_DISCONNECTED, what, *cleanup_for(state))
    if failure is Failure.UNAVAILABLE:
        if r.kind is Act.REATTACH:
            detail = "KStars did not come back on the bus before the event's late-start limit"
            return _fail(job, Reason.KSTARS_LOST, detail)
        if state in (_P, _W):  # nothing armed yet: re-attach and start the event again
            fresh = replace(job, job_sent_at=None, job_done=False, stop_sent_at=None)
            return _go(
                _P, fresh.flag("KStars left the bus"), Action(Act.REATTACH, _deadline(job, lim))
            )
        return _fail(job, Reason.KSTARS_LOST, what, *cleanup_for(state))
    if r.kind in _RETRIED:
        job = job.flag(f"{r.kind.value} {failure.value}")
        if r.kind is Act.CHECK_DISK:  # cannot tell: the recording matters more than the check
            unknown = (
                f"free disk space unknown: {r.error}" if r.error else "free disk space unknown"
            )
            return _arm_stream(job.flag(unknown), lim)
        if state is _S:
            return _go(_S, job, Action(Act.VERIFY))
        return _go(state, job, _sleep(now, lim))
    reason = Reason.JOB_FAILED if state in (_P, _W) else Reason.RECORDING_FAILED
    return _fail(job, reason, what, *cleanup_for(state))


def _pending(now: datetime, job: Job, r: PortResult | None, lim: Limits) -> Transition:
    if job.previous is Outcome.RECORDED:
        return Transition(
            JobState.SKIPPED,
            replace(job, reason=Reason.ALREADY_RECORDED, detail="recorded in an earlier run"),
        )
    if now > _deadline(job, lim):
        if job.previous is not None:
            detail = f"{job.previous.value} in an earlier run; its window has passed"
            return Transition(
                JobState.SKIPPED, replace(job, reason=Reason.ALREADY_FINISHED, detail=detail)
            )
        late = (now - job.record_start).total_seconds()
        return _fail(
            job,
            Reason.LATE_START,
            f"{late:.1f} s after record_start (limit {lim.late_start_s:g} s)",
        )
    if now < job.job_start:
        return _go(_P, job, Action(Act.SLEEP, job.job_start))
    if job.job_file is None:
        return _go(_A, job.flag("no Ekos job for this event"), Action(Act.CHECK_RIG))
    if now >= _preroll_at(job, lim):
        return _go(_A, job.flag("no time left for the Ekos job"), Action(Act.CHECK_RIG))
    return _go(_W, job, Action(Act.QUERY_SCHEDULER))


def _waiting(now: datetime, job: Job, r: PortResult | None, lim: Limits) -> Transition:
    if r is not None and r.kind is Act.POLL_JOB and r.progress is not None:
        job = replace(job, progress=r.progress)
        phase, detail = r.progress.phase, r.progress.detail
        if phase is JobPhase.COMPLETE:
            job = replace(job, job_done=True)
        elif phase is JobPhase.ALIGN_FAILED:
            return _record_anyway(now, job.flag(f"{NOT_PLATE_SOLVED}: {detail}".rstrip(": ")), lim)
        elif phase is JobPhase.FAILED:
            flag = f"the Ekos job failed ({detail}): recording at the mount's position"
            return _record_anyway(now, job.flag(flag), lim)
    preroll = _preroll_at(job, lim)
    if job.job_done:
        if now >= preroll:
            return _go(_A, job, Action(Act.CHECK_RIG))
        return _go(_W, job, Action(Act.SLEEP, preroll))
    overdue = _waiting_overdue(now, job, lim)
    if overdue is not None:
        return overdue
    if r is not None and r.kind is Act.QUERY_SCHEDULER and r.scheduler is not None:
        return _on_scheduler(now, job, r.scheduler, lim)
    if job.job_sent_at is not None:
        timeout_at = job.job_sent_at + _s(lim.job_timeout_s)
        return _go(_W, job, _sleep(now, lim, preroll, timeout_at), Action(Act.POLL_JOB))
    return _go(_W, job, Action(Act.QUERY_SCHEDULER))


def _record_anyway(now: datetime, job: Job, lim: Limits) -> Transition:
    """The Ekos job ended without success: stop the scheduler, record at preroll anyway."""
    job = replace(job, job_done=True)
    preroll = _preroll_at(job, lim)
    if now >= preroll:
        return _go(_A, job, Action(Act.STOP_SCHEDULER), Action(Act.CHECK_RIG))
    return _go(_W, job, Action(Act.STOP_SCHEDULER), Action(Act.SLEEP, preroll))


def _waiting_overdue(now: datetime, job: Job, lim: Limits) -> Transition | None:
    if job.job_sent_at is not None and now >= job.job_sent_at + _s(lim.job_timeout_s):
        last = job.progress.phase.value if job.progress else "no progress"
        flag = (
            f"the Ekos job did not finish within {lim.job_timeout_s:g} s (last: {last}): "
            "scheduler stopped, recording at the mount's position"
        )
        return _record_anyway(now, job.flag(flag), lim)
    if now < _preroll_at(job, lim):
        return None
    if job.job_sent_at is None:
        return _go(_A, job.flag("the Ekos job could not be started in time"), Action(Act.CHECK_RIG))
    job = job.flag("the Ekos job overran: scheduler stopped for the recording")
    return _go(_A, job, Action(Act.STOP_SCHEDULER), Action(Act.CHECK_RIG))


def _on_scheduler(now: datetime, job: Job, state: SchedulerState, lim: Limits) -> Transition:
    if is_scheduler_idle(state):
        job = replace(job, job_sent_at=now)
        return _go(
            _W,
            job,
            Action(Act.LOAD_JOB, job.job_start),
            Action(Act.START_SCHEDULER),
            Action(Act.POLL_JOB),
        )
    if job.stop_sent_at is None:
        job = replace(job, stop_sent_at=now).flag(f"scheduler was {state.value}: stopped")
        return _go(
            _W, job, Action(Act.STOP_SCHEDULER), _sleep(now, lim), Action(Act.QUERY_SCHEDULER)
        )
    if now - job.stop_sent_at >= _s(lim.idle_wait_s):
        detail = f"the scheduler stayed {state.value} for {lim.idle_wait_s:g} s after stop"
        return _fail(job, Reason.JOB_FAILED, detail)
    return _go(_W, job, _sleep(now, lim), Action(Act.QUERY_SCHEDULER))


def _arming(now: datetime, job: Job, r: PortResult | None, lim: Limits) -> Transition:
    if r is not None and r.kind is Act.RECORD:
        job = replace(job, record_sent_at=now)
        late = (now - job.record_start).total_seconds()
        if late > lim.record_timestamp_tolerance_s:
            job = job.flag(f"record command sent {late:.2f} s late")
        return _go(_R, job, Action(Act.CHECK_RIG))
    if now > _deadline(job, lim):
        late = (now - job.record_start).total_seconds()
        detail = f"not armed {late:.1f} s after record_start (limit {lim.late_start_s:g} s)"
        return _fail(job, Reason.LATE_START, detail, *cleanup_for(_A))
    if r is not None and r.kind is Act.CHECK_RIG and r.rig is not None:
        return _on_rig(now, job, r.rig, lim)
    if r is not None and r.kind is Act.CHECK_DISK:
        if r.geometry is not None and r.free_bytes is not None:
            need = estimate_recording_bytes(r.geometry, job.exposure_s, job.duration_s)
            verdict = judge_space(need, r.free_bytes, lim.disk_margin_bytes)
            if not verdict.is_enough:
                return _fail(job, Reason.DISK_FULL, verdict.reason)
        return _arm_stream(job, lim)
    return _go(_A, job, Action(Act.CHECK_RIG))


def _on_rig(now: datetime, job: Job, rig: RigStatus, lim: Limits) -> Transition:
    if not rig.camera_connected:
        return _fail(job, Reason.CAMERA_DISCONNECTED, "the camera is not connected")
    if not rig.is_ekos_quiet:
        if now < job.record_start:
            acts = [] if is_scheduler_idle(rig.scheduler) else [Action(Act.STOP_SCHEDULER)]
            acts += [] if rig.capture_idle else [Action(Act.ABORT_CAPTURE)]
            wait = _sleep(now, lim, job.record_start)
            return _go(_A, job, *acts, wait, Action(Act.CHECK_RIG))
        job = job.flag("Ekos still busy at record_start: recording anyway")
    return _go(_A, job, Action(Act.CHECK_DISK))


def _arm_stream(job: Job, lim: Limits) -> Transition:
    # The record command goes out right after the wake-up at record_start: nothing in between.
    return _go(
        _A,
        job,
        Action(Act.CONFIGURE),
        Action(Act.START_STREAM, _preroll_at(job, lim)),
        Action(Act.SLEEP, job.record_start),
        Action(Act.RECORD, job.record_start),
    )


def _flag_rig(job: Job, rig: RigStatus, lim: Limits) -> Job:
    m = rig.mount
    if not m.is_tracking:
        job = job.flag(f"mount not tracking at record_start ({m.status.value})")
    if m.ra_deg is None or m.dec_deg is None:
        job = job.flag("mount position unknown at record_start")
    else:
        off = angular_separation_deg(m.ra_deg, m.dec_deg, job.ra_deg, job.dec_deg)
        if off > lim.pointing_tolerance_deg:
            job = job.flag(f"mount {off:.2f} deg from the star at record_start: recorded anyway")
    if not rig.is_ekos_quiet:
        job = job.flag(f"Ekos busy at record_start (scheduler {rig.scheduler.value})")
    return job


def _recording(now: datetime, job: Job, r: PortResult | None, lim: Limits) -> Transition:
    end = finish_by(job, lim)
    if r is not None and r.kind is Act.CHECK_RIG and r.rig is not None:
        job = _flag_rig(job, r.rig, lim)
        if not r.rig.camera_connected:
            detail = "the camera disconnected at record_start"
            return _fail(job, Reason.CAMERA_DISCONNECTED, detail, *cleanup_for(_R))
    if r is not None and r.kind is Act.POLL_RECORDING:
        state = r.recording
        if state is RecordingState.FINISHED:
            return _go(_S, job, Action(Act.STOP_STREAM, job.record_end), Action(Act.VERIFY))
        if state is RecordingState.ALERT:
            detail = "the camera driver reported an error while recording"
            return _fail(job, Reason.RECORDING_FAILED, detail, *cleanup_for(_R))
        if state is RecordingState.NO_DEVICE:
            detail = "the camera disconnected while recording"
            return _fail(job, Reason.CAMERA_DISCONNECTED, detail, *cleanup_for(_R))
        sent = job.record_sent_at or job.record_start
        if state is RecordingState.IDLE and now - sent >= _s(lim.start_grace_s):
            detail = f"the recording had not started {lim.start_grace_s:g} s after the command"
            return _fail(job, Reason.RECORDING_FAILED, detail, *cleanup_for(_R))
    if now >= end:
        job = job.flag("the recording did not end on time: stopped")
        return _go(_S, job, Action(Act.STOP_RECORDING), Action(Act.STOP_STREAM), Action(Act.VERIFY))
    return _go(_R, job, _sleep(now, lim, end), Action(Act.POLL_RECORDING))


def _stopping(now: datetime, job: Job, r: PortResult | None, lim: Limits) -> Transition:
    if r is None or r.kind is not Act.VERIFY:
        return _go(_S, job, Action(Act.VERIFY))
    job = replace(job, check=r.check, file=r.file)
    if r.file is None or r.check is None:
        return _fail(job, Reason.RECORDING_FAILED, "no recording file was found")
    if not r.check.is_usable:
        return _fail(job, Reason.FILE_INVALID, "; ".join(r.check.problems))
    c = r.check
    if c.dropped_frames:
        where = ", ".join(f"{n} after frame {i}" for i, n in c.gap_list[:5])
        more = f" and {len(c.gap_list) - 5} more gaps" if len(c.gap_list) > 5 else ""
        job = job.flag(f"{c.dropped_frames} dropped frames in {c.gaps} gaps ({where}{more})")
    if c.problems:
        job = job.flag("recorded with problems: " + "; ".join(c.problems))
    return _go(JobState.DONE, job)


_Handler = Callable[[datetime, Job, "PortResult | None", Limits], Transition]
_HANDLERS: dict[JobState, _Handler] = {
    _P: _pending,
    _W: _waiting,
    _A: _arming,
    _R: _recording,
    _S: _stopping,
}
