"""Whole nights on the fake clock and the fake rig: the happy night and every fault case.

Each night runs in virtual time (minutes of night in milliseconds) and writes a real journal
and real (tiny) SER files that the supervisor verifies.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import T0, FakeClock, FakeRig, JobScript, RecScript, make_plan, planned

from ekos_occult.errors import EkosCommandFailed
from ekos_occult.kstars.states import SchedulerState
from ekos_occult.model import Plan
from ekos_occult.night.journal import Journal, read_journal
from ekos_occult.night.ports import ClockSync, JobPhase
from ekos_occult.night.records import Limits, Outcome, Reason
from ekos_occult.night.runner import EventResult, NightRunner
from ekos_occult.video.serverify import SerExpectation, verify_ser


class Night:
    """One supervised night: plan, fake clock and rig, journal file, recordings folder."""

    def __init__(
        self,
        tmp_path: Path,
        plan: Plan,
        *,
        start: datetime = T0,
        limits: Limits | None = None,
        free_bytes: int = 10**12,
    ) -> None:
        self.plan, self.tmp = plan, tmp_path
        self.clock = FakeClock(start)
        self.rig = FakeRig.for_plan(plan, self.clock, free_bytes=free_bytes)
        self.limits = limits
        self.journal_path = tmp_path / "journal.jsonl"
        self.journal: Journal | None = None

    def runner(self, previous: Iterable[Mapping[str, Any]] = (), **more: Any) -> NightRunner:
        self.journal = Journal(self.journal_path).open()
        return NightRunner(
            self.plan,
            ekos=self.rig.ekos,
            recorder=self.rig.recorder,
            clock=self.clock,
            journal=self.journal,
            job_files=lambda ev: Path(f"/fake/{ev.name}.esl"),
            recordings_dir=self.tmp / "rec",
            limits=self.limits,
            previous=previous,
            **more,
        )

    def run(self, previous: Iterable[Mapping[str, Any]] = ()) -> dict[str, EventResult]:
        results = asyncio.run(self.runner(previous).run())
        return {r.name: r for r in results}

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in read_journal(self.journal_path) if kind is None or e["type"] == kind]

    def final(self, name: str) -> dict[str, Any]:
        lines = [e for e in self.entries("event") if e["name"] == name]
        assert lines, f"no final journal line for {name}"
        return lines[-1]

    def states(self, name: str) -> list[str]:
        moves = [e for e in self.entries("transition") if e["name"] == name]
        return [moves[0]["from"], *(e["to"] for e in moves)] if moves else []

    def ev(self, name: str) -> Any:
        return next(e for e in self.plan.events if e.name == name)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def secs(t: datetime, ref: datetime) -> float:
    return (t - ref).total_seconds()


def assert_one_final_line_per_event(night: Night) -> None:
    names = [e["name"] for e in night.entries("event")]
    assert sorted(names) == sorted(ev.name for ev in night.plan.events)


# --- the happy night -------------------------------------------------------------------------


def test_whole_night_records_every_event_on_time(tmp_path: Path) -> None:
    plan = make_plan(
        planned("Vega", 6),
        planned("Deneb", 15, exposure_s=0.05, duration_s=30),
        planned("Altair", 30, exposure_s=0.5, duration_s=60),
        planned("Capella", 45),
        planned("Sunny", 50, scheduled=False),
    )
    night = Night(tmp_path, plan)
    results = night.run()
    scheduled = [ev for ev in plan.events if ev.is_scheduled]
    assert [results[ev.name].outcome for ev in scheduled] == [Outcome.RECORDED] * 4
    assert results["Sunny"].outcome is Outcome.SKIPPED
    assert night.final("Sunny")["reason"] == "not scheduled"
    rig = night.rig
    # Each step at its planned time: job at job_start, stream at preroll, RECORD at record_start.
    assert rig.times("load_job") == [ev.job_start for ev in scheduled]
    assert rig.times("start_recording") == [ev.event.record_start for ev in scheduled]
    assert rig.times("start_stream") == [
        ev.event.record_start - timedelta(seconds=3) for ev in scheduled
    ]
    assert rig.count("stop_stream") == 4
    for ev in scheduled:
        line = night.final(ev.name)
        assert line["outcome"] == "recorded" and line["reason"] is None
        assert night.states(ev.name) == [
            "pending",
            "waiting",
            "arming",
            "recording",
            "stopping",
            "done",
        ]
        check = verify_ser(
            Path(line["file"]),
            SerExpectation(ev.event.record_start, ev.event.record_end, ev.exposure_s),
        )
        assert check.is_valid and line["frames"] == check.frames
        assert line["frames"] == pytest.approx(
            ev.event.duration.total_seconds() / ev.exposure_s, abs=1
        )
        first = utc(line["first_frame_utc"])
        assert 0 <= secs(first, ev.event.record_start) <= ev.exposure_s + 0.25
        assert line["dropped_frames"] == 0 and line["timestamp_source"] == "host clock"
        assert utc(line["record_start"]) == ev.event.record_start
        assert set(line["steps"]) >= {
            "load_job",
            "job_complete",
            "start_stream",
            "record",
            "recording_finished",
            "verify",
        }
        assert line["steps"]["record"]["planned"] == line["steps"]["record"]["actual"]
    assert night.entries("night")[-1]["summary"] == {"recorded": 4, "failed": 0, "skipped": 1}
    assert night.journal is not None and not night.journal.is_open


def test_the_ekos_job_is_loaded_only_into_an_idle_scheduler(tmp_path: Path) -> None:
    # A scheduler left running (by the user, or a previous run) is stopped before loading.
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.ekos.scheduler = SchedulerState.RUNNING
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    assert "scheduler was running: stopped" in results["A"].flags
    assert night.rig.times("stop_scheduler")[0] <= night.rig.times("load_job")[0]


def test_recording_waits_for_the_scheduler_to_be_idle(tmp_path: Path) -> None:
    # A's scheduler is still busy (shutting down) at preroll: stopped before the recording.
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.jobs["A"] = JobScript(shutdown_s=600)
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED and results["A"].flags == ()
    rs = night.ev("A").event.record_start
    assert night.rig.times("stop_scheduler") == [rs - timedelta(seconds=3)]


# --- faults: Ekos ----------------------------------------------------------------------------


def test_hanging_call_fails_that_event_and_the_night_goes_on(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    night.rig.faults.hang_on["start_scheduler"] = {1}
    results = night.run()
    assert results["A"].outcome is Outcome.FAILED
    assert results["A"].reason is Reason.JOB_FAILED
    assert "start_scheduler failed (timeout)" in results["A"].detail
    assert results["B"].outcome is Outcome.RECORDED
    assert_one_final_line_per_event(night)


def test_hanging_poll_is_retried_and_the_event_recorded(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.faults.hang_on["job_progress"] = {2}
    night.rig.faults.hang_on["recording_state"] = {3}
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    assert {"poll_job timeout", "poll_recording timeout"} <= set(results["A"].flags)


def test_refused_load_fails_the_event(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    night.rig.faults.fail_on["load_job"] = {1: EkosCommandFailed("loadScheduler returned false")}
    results = night.run()
    assert (results["A"].reason, results["B"].outcome) == (Reason.JOB_FAILED, Outcome.RECORDED)
    assert "loadScheduler returned false" in night.final("A")["detail"]


@pytest.mark.parametrize(
    ("phase", "flag"),
    [
        (JobPhase.FAILED, "the Ekos job failed"),
        (JobPhase.ALIGN_FAILED, "pointing not plate-solved"),
    ],
)
def test_failed_job_is_recorded_anyway_and_flagged(
    tmp_path: Path, phase: JobPhase, flag: str
) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    night.rig.jobs["A"] = JobScript(outcome=phase, detail="Job 'A' failed to align")
    night.run()
    line = night.final("A")
    assert (line["outcome"], line["reason"]) == ("recorded", None)
    assert any(f.startswith(flag) for f in line["flags"]), line["flags"]
    assert night.final("B")["outcome"] == "recorded"
    # The scheduler was stopped and A recorded at its own time, at the slewed position.
    ev = night.ev("A").event
    assert night.rig.times("configure")[0] == ev.record_start - timedelta(seconds=3)
    assert night.rig.times("start_recording")[0] == ev.record_start
    assert night.rig.times("stop_scheduler")


def test_job_overrun_stops_the_scheduler_and_records_anyway(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)), limits=Limits(job_timeout_s=1000))
    night.rig.jobs["A"] = JobScript(outcome=None)  # never completes, capture stays busy
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    assert any("overran" in f for f in results["A"].flags)
    rs = night.ev("A").event.record_start
    stops = night.rig.times("stop_scheduler")
    assert stops and stops[0] == rs - timedelta(seconds=3)
    assert stops[0] < night.rig.times("start_recording")[0] == rs


def test_job_timeout_records_anyway(tmp_path: Path) -> None:
    night = Night(
        tmp_path, make_plan(planned("A", 400), planned("B", 420)), limits=Limits(job_timeout_s=60)
    )
    night.rig.jobs["A"] = JobScript(outcome=None)
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED and results["A"].reason is None
    assert any("did not finish within 60 s" in f for f in results["A"].flags)


def test_mount_off_target_is_recorded_and_flagged(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.jobs["A"] = JobScript(offset_deg=1.5)
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    assert any("1.50 deg from the star" in f for f in night.final("A")["flags"])


# --- faults: KStars leaves the bus -----------------------------------------------------------


def test_kstars_lost_while_waiting_comes_back_and_the_event_is_recorded(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    js = night.ev("A").job_start
    night.rig.lose_kstars(js + timedelta(seconds=4), back_at=js + timedelta(seconds=62))
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    notes = [e["what"] for e in night.entries("night")]
    assert notes.count("kstars lost") == 1 and notes.count("kstars back") == 1
    assert len(night.rig.ekos.loads) == 2  # the job was loaded again after re-attaching
    reattach = night.rig.times("reattach")
    assert reattach[-1] >= js + timedelta(seconds=62)
    assert all(b - a <= timedelta(seconds=5) for a, b in zip(reattach, reattach[1:], strict=False))


def test_kstars_lost_mid_recording_fails_it_and_the_next_event_is_recorded(
    tmp_path: Path,
) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20), planned("C", 21)))
    rs_a, b = night.ev("A").event.record_start, night.ev("B")
    # Gone from A's recording until after B's late limit; back in time for C.
    night.rig.lose_kstars(
        rs_a + timedelta(seconds=3), back_at=b.event.record_start + timedelta(seconds=12)
    )
    results = night.run()
    assert results["A"].reason is Reason.KSTARS_LOST
    assert results["B"].reason is Reason.KSTARS_LOST
    assert "did not come back" in results["B"].detail
    assert results["C"].outcome is Outcome.RECORDED
    assert_one_final_line_per_event(night)


# --- faults: camera, disk, time --------------------------------------------------------------


def test_camera_disconnect_fails_the_event_with_that_reason(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    rs_a = night.ev("A").event.record_start
    night.rig.lose_camera(rs_a + timedelta(seconds=4), back_at=rs_a + timedelta(minutes=5))
    results = night.run()
    assert results["A"].reason is Reason.CAMERA_DISCONNECTED
    assert results["B"].outcome is Outcome.RECORDED
    assert night.rig.times("stop_stream")[0] >= rs_a + timedelta(seconds=4)


def test_camera_missing_at_arming_fails_before_recording(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.lose_camera(T0)
    results = night.run()
    assert results["A"].reason is Reason.CAMERA_DISCONNECTED
    assert night.rig.count("start_recording") == 0


def test_disk_full_refuses_the_event(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)), free_bytes=10**6)
    results = night.run()
    for name in ("A", "B"):
        assert results[name].reason is Reason.DISK_FULL
        assert "not enough free disk" in results[name].detail
    assert night.rig.count("start_stream") == 0 and night.rig.count("start_recording") == 0


def test_event_already_past_the_late_limit_is_a_late_start(tmp_path: Path) -> None:
    plan = make_plan(planned("A", 6), planned("B", 20))
    start = plan.events[0].event.record_start + timedelta(seconds=11)
    night = Night(tmp_path, plan, start=start)
    results = night.run()
    assert results["A"].reason is Reason.LATE_START
    assert results["B"].outcome is Outcome.RECORDED


def test_late_but_within_the_limit_records_and_flags(tmp_path: Path) -> None:
    plan = make_plan(planned("A", 6))
    night = Night(tmp_path, plan, start=plan.events[0].event.record_start + timedelta(seconds=2))
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    assert {"no time left for the Ekos job", "record command sent 2.00 s late"} <= set(
        results["A"].flags
    )


# --- faults: the recording itself ------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "reason", "words"),
    [
        (RecScript(crash=True), "file invalid", "FrameCount is 0 (the recording was not closed"),
        (RecScript(no_file=True), "recording failed", "no recording file"),
        (RecScript(alert=True), "recording failed", "driver reported an error"),
    ],
)
def test_bad_recordings_are_failed_with_the_reason(
    tmp_path: Path, script: RecScript, reason: str, words: str
) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    night.rig.recs["A"] = script
    night.run()
    line = night.final("A")
    assert (line["outcome"], line["reason"]) == ("failed", reason)
    assert words in line["detail"]
    assert night.final("B")["outcome"] == "recorded"


def test_gaps_are_counted_in_the_journal(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.recs["A"] = RecScript(gap_every_s=1.0, gap_after_s=2.0)
    night.run()
    line = night.final("A")
    assert line["dropped_frames"] > 60 and line["frames"] < 40
    # Dropped frames never cost the recording: kept, counted, and where they are said.
    assert (line["outcome"], line["reason"]) == ("recorded", None)
    assert sum(n for _, n in line["gap_list"]) == line["dropped_frames"]
    assert line["gaps"] == len(line["gap_list"]) > 1
    flag = next(f for f in line["flags"] if "dropped frames" in f)
    first_at, first_n = line["gap_list"][0]
    assert f"{line['dropped_frames']} dropped frames in {line['gaps']} gaps" in flag
    assert f"{first_n} after frame {first_at}" in flag
    assert any("frames where the rate" in f for f in line["flags"])


def test_a_late_first_frame_is_recorded_and_flagged(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.recs["A"] = RecScript(latency_s=0.6)
    night.run()
    line = night.final("A")
    assert (line["outcome"], line["reason"]) == ("recorded", None)
    assert any("after the planned start" in f for f in line["flags"])


def test_recording_that_never_ends_is_stopped(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.recs["A"] = RecScript(never_finishes=True)
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    assert "the recording did not end on time: stopped" in results["A"].flags
    end = night.ev("A").event.record_end
    assert night.rig.times("stop_recording") == [end + timedelta(seconds=10)]


# --- Ctrl-C and restart ----------------------------------------------------------------------


async def _cancel_when(night: Night, runner: NightRunner, ready: Any) -> None:
    task = asyncio.create_task(runner.run())
    while not ready():
        await asyncio.sleep(0)
        assert not task.done(), "the night ended before the cancel point"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_ctrl_c_mid_recording_stops_cleanly_and_closes_the_journal(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    rec = night.rig.recorder
    runner = night.runner()
    asyncio.run(_cancel_when(night, runner, lambda: rec.state.value == "busy"))
    assert rec.state.value == "finished" and not rec.stream_on
    assert night.rig.calls[-2][2:] == ("stop_recording",)
    assert night.rig.calls[-1][2:] == ("stop_stream",)
    assert night.journal is not None and not night.journal.is_open
    line = night.final("A")
    assert (line["outcome"], line["reason"]) == ("failed", "interrupted")
    last = night.entries()[-1]
    assert (last["type"], last["what"]) == ("night", "interrupted")
    assert night.rig.count("load_job") == 1  # B never started


def test_the_mount_is_parked_once_after_the_last_event_and_journaled(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    results = night.run()
    assert [r.outcome for r in results.values()] == [Outcome.RECORDED] * 2
    assert night.rig.count("park_mount") == 1
    assert night.rig.calls[-1][2:] == ("park_mount",)  # after everything B did
    assert night.rig.times("park_mount")[0] >= night.ev("B").event.record_end
    assert night.rig.ekos.mount.status.value == "parking"
    said = [e["what"] for e in night.entries("night")]
    assert said == ["start", "park", "end"]


def test_park_at_end_false_leaves_the_mount_alone(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)), limits=Limits(park_at_end=False))
    night.run()
    assert night.rig.count("park_mount") == 0
    assert [e["what"] for e in night.entries("night")] == ["start", "end"]


def test_a_refused_park_is_journaled_and_changes_no_outcome(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6)))
    night.rig.faults.fail_on["park_mount"] = {1: EkosCommandFailed("The mount refused to park")}
    results = night.run()
    assert results["A"].outcome is Outcome.RECORDED
    failed = [e for e in night.entries("night") if e["what"] == "park failed"]
    assert len(failed) == 1 and "refused to park" in failed[0]["detail"]
    assert night.entries()[-1]["what"] == "end"


def test_ctrl_c_does_not_park(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    rec = night.rig.recorder
    asyncio.run(_cancel_when(night, night.runner(), lambda: rec.state.value == "busy"))
    assert night.rig.count("park_mount") == 0


def test_restart_skips_what_is_recorded_and_carries_on(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    loads = night.rig.ekos.loads
    asyncio.run(_cancel_when(night, night.runner(), lambda: len(loads) == 2))
    assert night.final("A")["outcome"] == "recorded"
    assert night.final("B")["reason"] == "interrupted"
    results = night.run(previous=read_journal(night.journal_path))
    assert results["A"].outcome is Outcome.SKIPPED
    assert results["A"].reason is Reason.ALREADY_RECORDED
    assert results["B"].outcome is Outcome.RECORDED
    assert [p.stem for p in loads] == ["A", "B", "B"]  # A was not run again
    assert [e["outcome"] for e in night.entries("event") if e["name"] == "A"] == ["recorded"]
    assert night.final("B")["outcome"] == "recorded"


# --- a full disk during the night ---------------------------------------------------------------


class _FillingDisk:
    """The journal's writer on a disk that is full between two moments of the night."""

    def __init__(self, clock: FakeClock, full_from: datetime, full_until: datetime) -> None:
        import ekos_occult.night.journal as journal_module

        self.clock, self.span = clock, (full_from, full_until)
        self.real = journal_module._write_all

    def __call__(self, fd: int, data: bytes, offset: int | None = None) -> None:
        if self.span[0] <= self.clock.now() < self.span[1]:
            self.real(fd, data[: len(data) // 3], offset)
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(fd, data, offset)


@pytest.mark.parametrize("frees_up", [True, False])
def test_a_full_disk_for_the_journal_does_not_end_the_night(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    frees_up: bool,
) -> None:
    import ekos_occult.night.journal as journal_module

    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    until = T0 + timedelta(minutes=17 if frees_up else 600)  # A records at 6 min, B at 20
    disk = _FillingDisk(night.clock, T0 + timedelta(minutes=5.5), until)
    monkeypatch.setattr(journal_module, "_write_all", disk)
    results = night.run()  # no OSError out of append or close
    assert [r.outcome for r in results.values()] == [Outcome.RECORDED, Outcome.RECORDED]
    j = night.journal
    assert j is not None and not j.is_open and j.failure is not None
    err = capsys.readouterr().err
    assert "No space left on device" in err
    on_disk = night.entries()  # only whole entries, readable
    if frees_up:  # every entry reached the disk in the end, in order
        assert not j.unwritten and "written later" in j.failure
        assert_one_final_line_per_event(night)
        assert on_disk[-1]["type"] == "night" and on_disk[-1]["what"] == "end"
    else:  # what could not be written was printed on stderr, nothing lost silently
        assert j.unwritten and "could not be written" in j.failure
        for line in j.unwritten:
            assert line in err
        lost = [json.loads(line) for line in j.unwritten]
        assert [e["name"] for e in on_disk + lost if e["type"] == "event"] == ["A", "B"]


def test_a_failing_live_view_is_dropped_and_the_night_goes_on(tmp_path: Path) -> None:
    class BrokenPipe:
        def __init__(self) -> None:
            self.calls = 0

        def append(self, entry: Mapping[str, object]) -> None:
            self.calls += 1
            if self.calls > 3:
                raise BrokenPipeError(errno.EPIPE, "Broken pipe")

        def close(self) -> None:
            raise OSError(errno.EIO, "I/O error")

    night = Night(tmp_path, make_plan(planned("A", 6)))
    view = BrokenPipe()
    runner = night.runner(observers=[view])
    results = asyncio.run(runner.run())
    assert [r.outcome for r in results] == [Outcome.RECORDED]
    assert view.calls == 4 and night.entries()[-1]["what"] == "end"


def test_an_os_error_in_a_step_fails_that_event_and_the_night_goes_on(tmp_path: Path) -> None:
    night = Night(tmp_path, make_plan(planned("A", 6), planned("B", 20)))
    rec = night.rig.recorder
    real = rec.find_recording
    calls = []

    async def broken_disk(request: Any, started: datetime) -> Path | None:
        calls.append(request)
        if len(calls) == 1:
            raise OSError(errno.EIO, "Input/output error", str(request.directory))
        return await real(request, started)

    rec.find_recording = broken_disk  # type: ignore[method-assign]
    results = night.run()  # no OSError out of the night
    assert results["B"].outcome is Outcome.RECORDED
    assert results["A"].outcome is not Outcome.RECORDED
    assert "Input/output error" in night.final("A")["detail"]


# --- the clock and the stamps, journaled for every recording (issue 14) ---


class _FixedClockSync:
    def __init__(self, state: ClockSync) -> None:
        self.state, self.reads = state, 0

    def read(self) -> ClockSync:
        self.reads += 1
        return self.state


@pytest.mark.parametrize(
    ("state", "flagged"),
    [(ClockSync(True, 0.004, 0.0002), False), (ClockSync(False, 16.0, 16.0), True)],
)
def test_clock_journaled_before_every_recording(
    tmp_path: Path, state: ClockSync, flagged: bool
) -> None:
    plan = make_plan(planned("Vega", 6), planned("Deneb", 15, exposure_s=0.05, duration_s=30))
    night = Night(tmp_path, plan)
    sync = _FixedClockSync(state)
    runner = night.runner(clock_sync=sync, max_clock_error_s=0.1)
    results = asyncio.run(runner.run())
    assert [r.outcome for r in results] == [Outcome.RECORDED] * 2 and sync.reads == 2
    entries = night.entries()
    for ev in plan.events:
        clocks = [e for e in entries if e["type"] == "clock" and e["name"] == ev.name]
        assert len(clocks) == 1
        assert clocks[0]["synchronised"] is state.synchronised
        assert clocks[0]["max_error_s"] == state.max_error_s
        # read before the recording was configured and started
        assert utc(clocks[0]["at"]) <= ev.event.record_start
        final = night.final(ev.name)
        assert final["clock"]["synchronised"] is state.synchronised
        assert final["timestamps"]["source"] == "host write time"
        assert final["timestamps"]["exposure_s"] == ev.exposure_s
        interval = final["timestamps"]["frame_interval"]
        assert interval["mean_s"] == pytest.approx(ev.exposure_s, rel=0.05)
        assert any("NOT synchronised" in f for f in final["flags"]) is flagged


def test_journal_says_which_timing_model_reduce_will_apply(tmp_path: Path) -> None:
    """Host stamps: the event line carries [camera]'s model (sampling, delay, uncertainty)."""
    from ekos_occult.settings import CameraSettings

    plan = make_plan(planned("Vega", 6))
    night = Night(tmp_path, plan)
    cam = CameraSettings(acquisition_delay_s=0.012, acquisition_delay_uncertainty_s=0.004)
    results = asyncio.run(night.runner(camera=cam).run())
    assert [r.outcome for r in results] == [Outcome.RECORDED]
    model = night.final("Vega")["timestamps"]["correction_model"]
    assert model == {
        "sampling": "exposure",
        "acquisition_delay_s": 0.012,
        "acquisition_delay_uncertainty_s": 0.004,
        "from": "[camera] default",
    }
    plain = Night(tmp_path / "b", make_plan(planned("Deneb", 6)))
    asyncio.run(plain.runner().run())
    assert "correction_model" not in plain.final("Deneb")["timestamps"]
