"""The supervisor's pure transition function: each timing decision, taken one at a time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fakes import T0, planned

from ekos_occult.kstars.states import MountStatus, SchedulerState
from ekos_occult.night.ports import (
    FrameGeometry,
    JobPhase,
    JobProgress,
    MountState,
    RecordingState,
)
from ekos_occult.night.records import (
    Act,
    Action,
    Failure,
    JobState,
    Limits,
    Outcome,
    PortResult,
    Reason,
    RigStatus,
)
from ekos_occult.night.runner import make_job
from ekos_occult.night.supervisor import transition
from ekos_occult.video.serverify import SerCheck

S = JobState
LIM = Limits()
EV = planned("Vega", 10)  # record_start T0+10 min, 10 s, job_start T0+5 min
JOB = make_job(EV, Path("/fake/Vega.esl"))
RS = JOB.record_start
PREROLL = RS - timedelta(seconds=LIM.stream_preroll_s)


def at(seconds_from_record_start: float) -> datetime:
    return RS + timedelta(seconds=seconds_from_record_start)


def kinds(actions: tuple[Action, ...]) -> list[Act]:
    return [a.kind for a in actions]


def rig(
    *,
    scheduler: SchedulerState = SchedulerState.IDLE,
    capture_idle: bool = True,
    mount: MountState | None = None,
    camera: bool = True,
) -> RigStatus:
    m = mount or MountState(MountStatus.TRACKING, JOB.ra_deg, JOB.dec_deg)
    return RigStatus(scheduler, capture_idle, m, camera)


# --- pending ---------------------------------------------------------------------------------


def test_pending_sleeps_until_job_start() -> None:
    tr = transition(S.PENDING, T0, JOB, None, LIM)
    assert tr.state is S.PENDING
    assert tr.actions == (Action(Act.SLEEP, JOB.job_start),)


def test_at_job_start_checks_the_scheduler_before_loading() -> None:
    tr = transition(S.PENDING, JOB.job_start, JOB, PortResult(Act.SLEEP), LIM)
    assert tr.state is S.WAITING
    assert kinds(tr.actions) == [Act.QUERY_SCHEDULER]


def test_pending_past_the_late_limit_is_a_late_start() -> None:
    tr = transition(S.PENDING, at(LIM.late_start_s + 0.5), JOB, None, LIM)
    assert tr.state is S.FAILED
    assert tr.job.reason is Reason.LATE_START
    assert "10.5 s after record_start" in tr.job.detail


def test_pending_within_the_late_limit_arms_without_a_job() -> None:
    tr = transition(S.PENDING, at(2.0), JOB, None, LIM)
    assert tr.state is S.ARMING
    assert kinds(tr.actions) == [Act.CHECK_RIG]
    assert "no time left for the Ekos job" in tr.job.flags


def test_already_recorded_is_skipped_and_a_failed_one_retried() -> None:
    done = replace(JOB, previous=Outcome.RECORDED)
    tr = transition(S.PENDING, T0, done, None, LIM)
    assert (tr.state, tr.job.reason) == (S.SKIPPED, Reason.ALREADY_RECORDED)
    failed = replace(JOB, previous=Outcome.FAILED)
    assert transition(S.PENDING, JOB.job_start, failed, None, LIM).state is S.WAITING
    gone = transition(S.PENDING, at(60), failed, None, LIM)
    assert (gone.state, gone.job.reason) == (S.SKIPPED, Reason.ALREADY_FINISHED)


# --- waiting ---------------------------------------------------------------------------------


def test_idle_scheduler_load_then_start_then_poll() -> None:
    now = JOB.job_start
    r = PortResult(Act.QUERY_SCHEDULER, scheduler=SchedulerState.IDLE)
    tr = transition(S.WAITING, now, JOB, r, LIM)
    assert kinds(tr.actions) == [Act.LOAD_JOB, Act.START_SCHEDULER, Act.POLL_JOB]
    assert tr.actions[0].at == JOB.job_start
    assert tr.job.job_sent_at == now


def test_busy_scheduler_is_stopped_and_never_loaded_into() -> None:
    now = JOB.job_start
    r = PortResult(Act.QUERY_SCHEDULER, scheduler=SchedulerState.RUNNING)
    tr = transition(S.WAITING, now, JOB, r, LIM)
    assert kinds(tr.actions) == [Act.STOP_SCHEDULER, Act.SLEEP, Act.QUERY_SCHEDULER]
    assert Act.LOAD_JOB not in kinds(tr.actions)
    later = now + timedelta(seconds=LIM.idle_wait_s)
    stuck = transition(S.WAITING, later, tr.job, r, LIM)
    assert (stuck.state, stuck.job.reason) == (S.FAILED, Reason.JOB_FAILED)


def test_running_job_is_polled_no_later_than_preroll() -> None:
    job = replace(JOB, job_sent_at=JOB.job_start)
    r = PortResult(Act.POLL_JOB, progress=JobProgress(JobPhase.SLEWING))
    early = JOB.job_start + timedelta(seconds=5)
    tr = transition(S.WAITING, early, job, r, LIM)
    assert tr.actions == (Action(Act.SLEEP, early + timedelta(seconds=1)), Action(Act.POLL_JOB))
    lim = Limits(job_timeout_s=1000)
    tr = transition(S.WAITING, PREROLL - timedelta(seconds=0.4), job, r, lim)
    assert tr.state is S.WAITING
    assert tr.actions == (Action(Act.SLEEP, PREROLL), Action(Act.POLL_JOB))
    # ... and no later than the job timeout either.
    timeout_at = JOB.job_start + timedelta(seconds=LIM.job_timeout_s)
    tr = transition(S.WAITING, timeout_at - timedelta(seconds=0.3), job, r, LIM)
    assert tr.actions[0] == Action(Act.SLEEP, timeout_at)


def test_complete_job_sleeps_until_preroll_then_arms() -> None:
    job = replace(JOB, job_sent_at=JOB.job_start)
    r = PortResult(Act.POLL_JOB, progress=JobProgress(JobPhase.COMPLETE, "done"))
    tr = transition(S.WAITING, JOB.job_start + timedelta(seconds=20), job, r, LIM)
    assert tr.state is S.WAITING and tr.job.job_done
    assert tr.actions == (Action(Act.SLEEP, PREROLL),)
    armed = transition(S.WAITING, PREROLL, tr.job, PortResult(Act.SLEEP), LIM)
    assert armed.state is S.ARMING
    assert kinds(armed.actions) == [Act.CHECK_RIG]


@pytest.mark.parametrize(
    ("phase", "flag"),
    [
        (JobPhase.FAILED, "the Ekos job failed (Ekos said no): recording at the mount's position"),
        (JobPhase.ALIGN_FAILED, "pointing not plate-solved: Ekos said no"),
    ],
)
def test_failed_job_stops_the_scheduler_and_records_anyway(phase: JobPhase, flag: str) -> None:
    job = replace(JOB, job_sent_at=JOB.job_start)
    r = PortResult(Act.POLL_JOB, progress=JobProgress(phase, "Ekos said no"))
    tr = transition(S.WAITING, JOB.job_start + timedelta(seconds=30), job, r, LIM)
    assert tr.state is S.WAITING and tr.job.reason is None and flag in tr.job.flags
    assert tr.actions == (Action(Act.STOP_SCHEDULER), Action(Act.SLEEP, PREROLL))
    armed = transition(S.WAITING, PREROLL, tr.job, PortResult(Act.SLEEP), LIM)
    assert armed.state is S.ARMING and kinds(armed.actions) == [Act.CHECK_RIG]


def test_align_failing_after_preroll_arms_at_once() -> None:
    job = replace(JOB, job_sent_at=JOB.job_start)
    r = PortResult(Act.POLL_JOB, progress=JobProgress(JobPhase.ALIGN_FAILED, ""))
    tr = transition(S.WAITING, PREROLL + timedelta(seconds=1), job, r, LIM)
    assert tr.state is S.ARMING and "pointing not plate-solved" in tr.job.flags
    assert kinds(tr.actions) == [Act.STOP_SCHEDULER, Act.CHECK_RIG]


def test_overrun_at_preroll_stops_the_scheduler_and_records_anyway() -> None:
    lim = Limits(job_timeout_s=1000)
    job = replace(JOB, job_sent_at=JOB.job_start)
    r = PortResult(Act.POLL_JOB, progress=JobProgress(JobPhase.CAPTURING))
    tr = transition(S.WAITING, PREROLL, job, r, lim)
    assert tr.state is S.ARMING
    assert kinds(tr.actions) == [Act.STOP_SCHEDULER, Act.CHECK_RIG]
    assert any("overran" in f for f in tr.job.flags)


def test_job_timeout_stops_the_scheduler_and_records_anyway() -> None:
    lim = Limits(job_timeout_s=20)
    job = replace(JOB, job_sent_at=JOB.job_start)
    r = PortResult(Act.POLL_JOB, progress=JobProgress(JobPhase.CAPTURING))
    now = JOB.job_start + timedelta(seconds=lim.job_timeout_s)
    tr = transition(S.WAITING, now, job, r, lim)
    assert tr.state is S.WAITING and tr.job.reason is None and tr.job.job_done
    assert any("did not finish within 20 s (last: capturing)" in f for f in tr.job.flags)
    assert kinds(tr.actions) == [Act.STOP_SCHEDULER, Act.SLEEP]


# --- arming and the record command -----------------------------------------------------------


def test_quiet_rig_checks_disk_then_streams_sleeps_and_records_at_record_start() -> None:
    tr = transition(S.ARMING, PREROLL, JOB, PortResult(Act.CHECK_RIG, rig=rig()), LIM)
    assert kinds(tr.actions) == [Act.CHECK_DISK]
    disk = PortResult(Act.CHECK_DISK, geometry=FrameGeometry(640, 480, 2), free_bytes=10**12)
    tr = transition(S.ARMING, PREROLL, JOB, disk, LIM)
    assert kinds(tr.actions) == [Act.CONFIGURE, Act.START_STREAM, Act.SLEEP, Act.RECORD]
    # Nothing between the wake-up at record_start and the record command.
    assert tr.actions[2] == Action(Act.SLEEP, RS)
    assert tr.actions[3] == Action(Act.RECORD, RS)
    rec = transition(S.ARMING, RS, JOB, PortResult(Act.RECORD), LIM)
    assert rec.state is S.RECORDING and rec.job.record_sent_at == RS
    assert kinds(rec.actions) == [Act.CHECK_RIG]
    assert rec.job.flags == ()


def test_busy_ekos_is_stopped_before_record_start_and_flagged_at_it() -> None:
    busy = PortResult(Act.CHECK_RIG, rig=rig(scheduler=SchedulerState.RUNNING, capture_idle=False))
    tr = transition(S.ARMING, PREROLL, JOB, busy, LIM)
    assert kinds(tr.actions) == [Act.STOP_SCHEDULER, Act.ABORT_CAPTURE, Act.SLEEP, Act.CHECK_RIG]
    assert tr.actions[2].at == PREROLL + timedelta(seconds=LIM.poll_s)
    at_start = transition(S.ARMING, RS, JOB, busy, LIM)
    assert kinds(at_start.actions) == [Act.CHECK_DISK]
    assert any("busy at record_start" in f for f in at_start.job.flags)


def test_not_enough_disk_refuses_the_event() -> None:
    disk = PortResult(Act.CHECK_DISK, geometry=FrameGeometry(1280, 1024, 2), free_bytes=10**6)
    tr = transition(S.ARMING, PREROLL, JOB, disk, LIM)
    assert (tr.state, tr.job.reason) == (S.FAILED, Reason.DISK_FULL)
    assert "not enough free disk" in tr.job.detail
    assert Act.RECORD not in kinds(tr.actions)


def test_camera_gone_at_arming_fails_the_event() -> None:
    tr = transition(S.ARMING, PREROLL, JOB, PortResult(Act.CHECK_RIG, rig=rig(camera=False)))
    assert (tr.state, tr.job.reason) == (S.FAILED, Reason.CAMERA_DISCONNECTED)


def test_late_record_is_flagged_not_failed() -> None:
    rec = transition(S.ARMING, at(2.0), JOB, PortResult(Act.RECORD), LIM)
    assert rec.state is S.RECORDING
    assert "record command sent 2.00 s late" in rec.job.flags


def test_off_target_mount_is_flagged_at_record_start() -> None:
    job = replace(JOB, record_sent_at=RS)
    off = MountState(MountStatus.TRACKING, JOB.ra_deg, JOB.dec_deg + 2.0)
    tr = transition(S.RECORDING, RS, job, PortResult(Act.CHECK_RIG, rig=rig(mount=off)), LIM)
    assert tr.state is S.RECORDING
    assert any("2.00 deg from the star" in f for f in tr.job.flags)
    parked = MountState(MountStatus.PARKED, None, None)
    tr = transition(S.RECORDING, RS, job, PortResult(Act.CHECK_RIG, rig=rig(mount=parked)), LIM)
    assert "mount not tracking at record_start (parked)" in tr.job.flags


# --- recording and stopping ------------------------------------------------------------------


def test_recording_polls_until_finished_then_stops_stream_and_verifies() -> None:
    job = replace(JOB, record_sent_at=RS)
    busy = PortResult(Act.POLL_RECORDING, recording=RecordingState.BUSY)
    tr = transition(S.RECORDING, at(3), job, busy, LIM)
    assert tr.actions == (Action(Act.SLEEP, at(4)), Action(Act.POLL_RECORDING))
    done = PortResult(Act.POLL_RECORDING, recording=RecordingState.FINISHED)
    tr = transition(S.RECORDING, at(10), job, done, LIM)
    assert tr.state is S.STOPPING
    assert kinds(tr.actions) == [Act.STOP_STREAM, Act.VERIFY]


def test_recording_that_never_ends_is_stopped_and_flagged() -> None:
    job = replace(JOB, record_sent_at=RS)
    busy = PortResult(Act.POLL_RECORDING, recording=RecordingState.BUSY)
    tr = transition(S.RECORDING, at(10 + LIM.finish_grace_s), job, busy, LIM)
    assert tr.state is S.STOPPING
    assert kinds(tr.actions) == [Act.STOP_RECORDING, Act.STOP_STREAM, Act.VERIFY]
    assert "the recording did not end on time: stopped" in tr.job.flags


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (RecordingState.ALERT, Reason.RECORDING_FAILED),
        (RecordingState.NO_DEVICE, Reason.CAMERA_DISCONNECTED),
    ],
)
def test_recording_errors_fail_and_clean_up(state: RecordingState, reason: Reason) -> None:
    job = replace(JOB, record_sent_at=RS)
    tr = transition(S.RECORDING, at(4), job, PortResult(Act.POLL_RECORDING, recording=state))
    assert (tr.state, tr.job.reason) == (S.FAILED, reason)
    assert kinds(tr.actions) == [Act.STOP_RECORDING, Act.STOP_STREAM]


def test_verify_outcomes() -> None:
    f = Path("/rec/x.ser")
    good = PortResult(Act.VERIFY, check=SerCheck(f, frames=100, expected_frames=100), file=f)
    assert transition(S.STOPPING, at(11), JOB, good).state is S.DONE
    bad = PortResult(Act.VERIFY, check=SerCheck(f, problems=("no frames",)), file=f)
    tr = transition(S.STOPPING, at(11), JOB, bad)
    assert (tr.state, tr.job.reason, tr.job.detail) == (S.FAILED, Reason.FILE_INVALID, "no frames")
    gappy = SerCheck(
        f,
        frames=72,
        expected_frames=100,
        dropped_frames=28,
        gaps=2,
        first_frame_utc=at(4),
        problems=("72 frames where the rate (0.1 s) calls for about 100",),
        gap_list=((10, 20), (50, 8)),
    )
    tr = transition(S.STOPPING, at(11), JOB, PortResult(Act.VERIFY, check=gappy, file=f))
    assert tr.state is S.DONE and tr.job.reason is None
    assert "28 dropped frames in 2 gaps (20 after frame 10, 8 after frame 50)" in tr.job.flags
    assert (
        "recorded with problems: 72 frames where the rate (0.1 s) calls for about 100"
        in tr.job.flags
    )
    missing = transition(S.STOPPING, at(11), JOB, PortResult(Act.VERIFY))
    assert (missing.state, missing.job.reason) == (S.FAILED, Reason.RECORDING_FAILED)


# --- port failures ---------------------------------------------------------------------------


def _failed(kind: Act, failure: Failure) -> PortResult:
    return PortResult(kind, failure=failure, error="boom")


def test_failed_command_fails_the_event_with_the_step_named() -> None:
    tr = transition(S.WAITING, JOB.job_start, JOB, _failed(Act.LOAD_JOB, Failure.REFUSED))
    assert (tr.state, tr.job.reason) == (S.FAILED, Reason.JOB_FAILED)
    assert tr.job.detail == "load_job failed (refused): boom"
    tr = transition(S.ARMING, PREROLL, JOB, _failed(Act.START_STREAM, Failure.TIMEOUT))
    assert (tr.state, tr.job.reason) == (S.FAILED, Reason.RECORDING_FAILED)
    assert kinds(tr.actions) == [Act.STOP_STREAM]


def test_failed_query_is_retried_after_a_poll() -> None:
    job = replace(JOB, job_sent_at=JOB.job_start)
    now = JOB.job_start + timedelta(seconds=5)
    tr = transition(S.WAITING, now, job, _failed(Act.POLL_JOB, Failure.TIMEOUT))
    assert tr.state is S.WAITING
    assert tr.actions == (Action(Act.SLEEP, now + timedelta(seconds=LIM.poll_s)),)
    assert "poll_job timeout" in tr.job.flags
    again = transition(S.WAITING, tr.actions[0].at, tr.job, PortResult(Act.SLEEP))
    assert kinds(again.actions) == [Act.SLEEP, Act.POLL_JOB]


def test_kstars_lost_before_arming_reattaches_until_the_late_limit() -> None:
    job = replace(JOB, job_sent_at=JOB.job_start)
    tr = transition(S.WAITING, JOB.job_start, job, _failed(Act.POLL_JOB, Failure.UNAVAILABLE))
    assert tr.state is S.PENDING and tr.job.job_sent_at is None
    assert tr.actions == (Action(Act.REATTACH, at(LIM.late_start_s)),)
    back = transition(
        S.PENDING, JOB.job_start + timedelta(seconds=30), tr.job, PortResult(Act.REATTACH)
    )
    assert back.state is S.WAITING
    never = transition(S.PENDING, at(11), tr.job, _failed(Act.REATTACH, Failure.UNAVAILABLE))
    assert (never.state, never.job.reason) == (S.FAILED, Reason.KSTARS_LOST)


def test_kstars_lost_while_recording_fails_the_event() -> None:
    job = replace(JOB, record_sent_at=RS)
    tr = transition(S.RECORDING, at(3), job, _failed(Act.POLL_RECORDING, Failure.UNAVAILABLE))
    assert (tr.state, tr.job.reason) == (S.FAILED, Reason.KSTARS_LOST)


def test_device_lost_on_any_call_is_camera_disconnected() -> None:
    tr = transition(S.ARMING, PREROLL, JOB, _failed(Act.CONFIGURE, Failure.NO_DEVICE))
    assert (tr.state, tr.job.reason) == (S.FAILED, Reason.CAMERA_DISCONNECTED)


def test_transition_is_pure() -> None:
    r = PortResult(Act.QUERY_SCHEDULER, scheduler=SchedulerState.IDLE)
    first = transition(S.WAITING, JOB.job_start, JOB, r, LIM)
    second = transition(S.WAITING, JOB.job_start, JOB, r, LIM)
    assert first == second
    assert JOB.job_sent_at is None  # the input job is untouched


def test_final_states_do_nothing() -> None:
    for state in (S.DONE, S.SKIPPED, S.FAILED):
        tr = transition(state, T0, JOB, None)
        assert tr == type(tr)(state, JOB, ())
