"""Whole nights against the KStars 3.8 / INDI 2.x stand-in (``pytest -m kstars38``).

The real adapters (:class:`~ekos_occult.kstars.client.EkosClient`, the Ekos port, the INDI
stream recorder, the readiness check) and the real :class:`~ekos_occult.night.runner.NightRunner`
run on a fake clock against :mod:`standin`, which follows the 3.8 contract of
``shared/reference/kstars-3.8-interfaces.md``: train arguments, the ``version`` property,
``jsonJobs`` states and stages, German log lines only, remote-mode profile, ``stop()`` that does
nothing unless running, INDI 2.x stream-frame reset, recorder settings that spoil a recording,
and ``INDI.sendProperty`` crashing KStars. A contract, not a real KStars 3.8 (see the README).
"""

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock, MemoryJournal, make_plan, planned
from kstars38.standin import Rig38, StandIn
from privatebus import private_bus

from ekos_occult.ekosfiles.render import render_single_job
from ekos_occult.errors import ConfigError, EkosIncompatible
from ekos_occult.files import write_night
from ekos_occult.kstars.client import EkosClient
from ekos_occult.kstars.readiness import ensure_ekos_ready, settings_for_camera
from ekos_occult.kstars.scheduleroptions import save_options
from ekos_occult.night.ekosport import DBusEkosPort, KStarsLink
from ekos_occult.night.optionsguard import scheduler_options_kept
from ekos_occult.night.recorder import IndiStreamRecorder
from ekos_occult.night.runner import NightRunner
from ekos_occult.night.supervisor import Limits, Outcome
from ekos_occult.settings import Settings
from ekos_occult.video.ser import open_ser

pytestmark = [pytest.mark.kstars38, pytest.mark.timeout(60)]

T0 = datetime(2026, 11, 21, 20, 0, tzinfo=timezone.utc)
ROI = (100, 60, 320, 240)


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    with private_bus(tmp_path / "bus") as address:
        yield address


def _settings(**ekos: Any) -> Settings:
    base = Settings()
    return base.__class__(
        **{**base.__dict__, "ekos": base.ekos.__class__(**{**base.ekos.__dict__, **ekos})}
    )


async def _with_standin(address: str, rig: Rig38, scenario: Any) -> Any:
    standin = StandIn(address, rig)
    await standin.start()
    try:
        return await scenario(standin)
    finally:
        await standin.stop()


def _night(
    address: str,
    tmp_path: Path,
    rig: Rig38,
    clock: FakeClock,
    recorder_kw: dict[str, Any] | None = None,
    kstarsrc: Path | None = None,
    cancel_after: datetime | None = None,
    **runner: Any,
) -> Any:
    plan = make_plan(
        planned("Deneb", 10, lead_s=60, duration_s=2.0),
        planned("Vega", 20, lead_s=60, duration_s=2.0),
    )
    journal = MemoryJournal()
    said = journal.said = []  # type: ignore[attr-defined]

    async def scenario(standin: StandIn) -> Any:
        link = KStarsLink(address, timeout_s=2.0)
        client = await link.open()
        report = await ensure_ekos_ready(client, Settings(), start_ekos=False, clock=clock)
        link.version = report.file_format
        jobs = {}
        for ev in plan.scheduled:
            rendered = render_single_job(
                plan,
                Settings(),
                ev,
                version=report.file_format,
                night_dir=tmp_path / "night",
                tz=report.tz,
                asap=True,  # as `run` writes them
            )
            jobs[ev.name] = write_night(rendered)[-1]
        port = DBusEkosPort(link, report.camera, clock)
        await port.subscribe()
        recorder = IndiStreamRecorder(
            lambda: link.client,
            report.camera,
            timeout_s=2.0,
            indi_server=report.indi_server,
            **(recorder_kw or {}),
        )
        night = NightRunner(
            plan,
            ekos=port,
            recorder=recorder,
            clock=clock,
            journal=journal,
            job_files=jobs,
            recordings_dir=tmp_path / "rec",
            limits=Limits(poll_s=1.0),
            **runner,
        )
        saved = None
        if kstarsrc is not None:  # as `run` does: the options read now, put back after
            saved = save_options(kstarsrc, report.file_format, report.kstars_version)
        task = asyncio.ensure_future(night.run())
        if cancel_after is not None:
            original = clock.sleep_until

            async def sleep_until(t: datetime) -> None:
                await original(t)
                if clock.now() > cancel_after:
                    task.cancel()  # Ctrl-C

            clock.sleep_until = sleep_until  # type: ignore[method-assign]
        try:
            async with scheduler_options_kept(lambda: link.client, saved, tmp_path, said.append):
                try:
                    return report, await task
                except asyncio.CancelledError:
                    return report, None
        finally:
            await port.close()
            await link.close()

    report, results = asyncio.run(_with_standin(address, rig, scenario))
    return report, results, journal


def _rig(clock: FakeClock, disk: Path, **kw: Any) -> Rig38:
    return Rig38(now=clock.now, disk=disk, **kw)


# ---------------------------------------------------------------------- identification
def test_38_is_identified_by_its_version_property(bus: str, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rig = _rig(clock, Path("/"))

    async def scenario(standin: StandIn) -> Any:
        async with EkosClient(bus, timeout_s=2.0) as client:
            return await ensure_ekos_ready(client, Settings(), start_ekos=False, clock=clock)

    report = asyncio.run(_with_standin(bus, rig, scenario))
    assert (report.kstars_version, report.file_format, report.format_source) == (
        "3.8.1",
        "3.7",
        "detected",
    )
    assert "version property" in report.version_text
    # The camera's capture-format labels come from its INDI server (D-Bus has names only).
    assert report.capture_formats == (("RGB", False), ("RAW 16", True))
    chosen, note = settings_for_camera(Settings(), report)
    assert chosen.capture.format == "RAW 16" and "'Mono'" in note


def test_37_without_version_property_is_identified_by_feature_probes(
    bus: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    rig = _rig(clock, Path("/"), version_prop="")

    async def scenario(standin: StandIn) -> Any:
        async with EkosClient(bus, timeout_s=2.0) as client:
            return await ensure_ekos_ready(client, Settings(), start_ekos=False, clock=clock)

    report = asyncio.run(_with_standin(bus, rig, scenario))
    assert (report.kstars_version, report.file_format) == (">=3.7.3", "3.7")
    assert "Capture.abort(s)" in report.version_text


def test_an_unidentified_kstars_is_refused_not_given_the_36_format(
    bus: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    # 3.7.0-3.7.2 shape: no version property, no jsonJobs, abort() without a train; the
    # process is not a kstars executable (as in a Flatpak or another namespace).
    rig = _rig(clock, Path("/"), version_prop="", json_jobs=False, train_args=False)

    async def scenario(standin: StandIn) -> Any:
        async with EkosClient(bus, timeout_s=2.0) as client:
            with pytest.raises(ConfigError) as refused:
                await ensure_ekos_ready(client, Settings(), start_ekos=False, clock=clock)
            configured = _settings(kstars_version="3.7")
            report = await ensure_ekos_ready(client, configured, start_ekos=False, clock=clock)
            return str(refused.value), report

    message, report = asyncio.run(_with_standin(bus, rig, scenario))
    assert "--kstars-version" in message and "version property" in message
    assert "jsonJobs" in message and "not the 3.6 format" in message
    assert (report.file_format, report.format_source) == ("3.7", "configured")


def test_a_signature_mismatch_is_its_own_error_not_kstars_gone(bus: str, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rig = _rig(clock, Path("/"))

    async def scenario(standin: StandIn) -> Any:
        async with EkosClient(bus, timeout_s=2.0) as client:
            with pytest.raises(EkosIncompatible, match="abort") as err:
                await client.call(("/KStars/Ekos/Capture", "org.kde.kstars.Ekos.Capture"), "abort")
            await client.abort_capture()  # the train form, chosen by the probe
            return str(err.value)

    message = asyncio.run(_with_standin(bus, rig, scenario))
    assert "not on the bus" not in message and "UnknownMethod" in message
    assert rig.aborts == [""]


# ---------------------------------------------------------------------- whole nights
def test_a_german_38_night_records_both_events(bus: str, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rig = _rig(clock, Path("/"), capture_busy_after_job=True)
    report, results, journal = _night(bus, tmp_path, rig, clock, roi=ROI)
    assert [(r.name, r.outcome) for r in results] == [
        ("Deneb", Outcome.RECORDED),
        ("Vega", Outcome.RECORDED),
    ], [r.detail for r in results]
    # Completion came from jsonJobs: KStars logged German only.
    assert all(not any(w in line for w in ("complete", "Job '")) for line in rig.sched_log)
    assert sum("ist abgeschlossen" in line for line in rig.sched_log) == 2
    # Ekos' capture, busy after the job, was aborted with the 3.7.3+ train argument.
    assert rig.aborts and set(rig.aborts) == {""}
    # Scheduler.stop() was never relied on to report "aborted".
    assert rig.scheduler == 0
    # The crashing INDI.sendProperty was never called: properties went to the INDI server.
    assert not rig.crashed
    assert report.indi_server is not None and report.indi_server.port == rig.indi_port
    for r in results:
        assert r.file is not None and r.file.suffix == ".ser" and r.file.exists()
        header = open_ser(r.file).header  # the ROI survived the stream start (INDI 2.2.4)
        assert (header.width, header.height) == ROI[2:]
    # Recorder pinned: SER (not the saved OGV), divisor 1, a buffer that holds the event.
    assert rig.props[("CCD_STREAM_RECORDER", "SER")] == "On"
    assert float(rig.props[("STREAMING_EXPOSURE", "STREAMING_DIVISOR_VALUE")]) == 1.0
    assert float(rig.props[("LIMITS", "LIMITS_BUFFER_MAX")]) >= 64
    events = [e for e in journal.entries if e["type"] == "event"]
    assert all(e["dropped_frames"] == 0 and not e["problems"] for e in events)
    # The file was read on disk; INDI's own count, heard on its server, agrees with it.
    for e in events:
        assert e["verified"]["how"] == "on disk"
        assert e["verified"]["indi"]["frames"] == e["frames"] == 21
        assert e["verified"]["indi"]["file"].endswith(Path(e["file"]).name)


def test_kstars_zone_changing_mid_night_does_not_drop_the_next_job(
    bus: str, tmp_path: Path
) -> None:
    # A GPS/mount time source moves KStars' zone by 2 h after the first event: a job with a
    # fixed StartAt would look 2 h off (late: never run; early: mount parked). run's per-event
    # jobs start ASAP, so KStars' clock does not matter.
    clock = FakeClock(T0)
    rig = _rig(clock, Path("/"))

    original = clock.sleep_until

    async def sleep_until(t: datetime) -> None:
        await original(t)
        if clock.now() > T0 + timedelta(minutes=12):
            rig.tz_hours = 3.0

    clock.sleep_until = sleep_until  # type: ignore[method-assign]
    report, results, journal = _night(bus, tmp_path, rig, clock)
    assert rig.tz_hours == 3.0
    assert [r.outcome for r in results] == [Outcome.RECORDED] * 2, [r.detail for r in results]
    assert [r.outcome for r in results] == [Outcome.RECORDED, Outcome.RECORDED]
    assert not rig.parked
    assert all(j["startup"] == "ASAP" for j in rig.jobs)


def test_remote_indi_night_records_on_the_indi_host(bus: str, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    other_host = tmp_path / "stellarmate-disk"
    rig = _rig(clock, other_host, mode="remote", indi_host="127.0.0.2")
    report, results, journal = _night(bus, tmp_path, rig, clock, roi=ROI)
    assert report.indi_server is not None and not report.indi_server.is_local
    assert "Ekos.getProfile" in report.indi_server.how
    assert [r.outcome for r in results] == [Outcome.RECORDED, Outcome.RECORDED]
    assert not rig.crashed
    assert not list((tmp_path / "rec").glob("*.ser"))  # nothing on this machine's disk
    assert len(rig.written) == 2
    for path in rig.written:  # the files on the INDI host are whole
        header = open_ser(path).header
        assert (header.width, header.height) == ROI[2:]
    events = [e for e in journal.entries if e["type"] == "event"]
    for e, path in zip(events, rig.written, strict=True):
        # Judged by what INDI published: the file it opened (a path on its host), the frames
        # it recorded (2.1 s padded duration at 0.1 s: 21) against the 20 the plan calls for.
        assert e["verified"]["how"] == "INDI's report only", e["verified"]
        indi = e["verified"]["indi"]
        assert indi["finished"] and indi["frames"] == 21 and not indi["errors"]
        assert indi["file"] == "/" + str(path.relative_to(other_host))
        assert e["file"] == indi["file"] and e["frames"] == 21 and e["expected_frames"] == 20
        assert any("127.0.0.2" in w and "21 frames recorded of 20" in w for w in e["warnings"])
        assert e["first_frame_utc"] is None  # timestamps are not claimed
        # The free space there cannot be read here: said, and the recording went ahead.
        assert any("free disk space unknown" in f and "127.0.0.2" in f for f in e["flags"])


def test_remote_indi_through_a_mount_is_verified_like_a_local_file(
    bus: str, tmp_path: Path
) -> None:
    """[indi] remote_record_dir: INDI records into the mounted folder (as its host names it),
    the SER is read through the mount: header, frames, timestamps, ROI."""
    clock = FakeClock(T0)
    other_host = tmp_path / "stellarmate-disk"
    on_host = "/home/stellarmate/occult"
    mount = other_host / on_host.lstrip("/")  # what sshfs would show here
    mount.mkdir(parents=True)
    rig = _rig(clock, other_host, mode="remote", indi_host="127.0.0.2")
    kw = {"mount": mount, "dir_on_host": on_host}
    report, results, journal = _night(bus, tmp_path, rig, clock, kw, roi=ROI)
    assert [r.outcome for r in results] == [Outcome.RECORDED, Outcome.RECORDED]
    assert rig.props[("RECORD_FILE", "RECORD_FILE_DIR")] == on_host
    events = [e for e in journal.entries if e["type"] == "event"]
    for e, r in zip(events, results, strict=True):
        assert e["verified"]["how"] == "through mount"
        assert r.file is not None and r.file.parent == mount
        assert e["frames"] == 21 and e["dropped_frames"] == 0 and not e["problems"]
        assert e["first_frame_utc"] is not None  # the stamps were read
        assert e["verified"]["indi"]["frames"] == e["frames"]  # INDI and the file agree
        assert not any("free disk space unknown" in f for f in e["flags"])


def test_remote_indi_that_recorded_no_frame_fails_the_event(bus: str, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rig = _rig(clock, tmp_path / "sm", mode="remote", indi_host="127.0.0.2", record_nothing=True)
    report, results, journal = _night(bus, tmp_path, rig, clock)
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert all("INDI recorded no frame" in r.detail for r in results), [r.detail for r in results]


def test_remote_indi_without_its_report_falls_back_to_its_switch_and_says_so(
    bus: str, tmp_path: Path
) -> None:
    clock = FakeClock(T0)
    rig = _rig(clock, tmp_path / "sm", mode="remote", indi_host="127.0.0.2", indi_silent=True)
    report, results, journal = _night(bus, tmp_path, rig, clock)
    assert [r.outcome for r in results] == [Outcome.RECORDED, Outcome.RECORDED]
    for e in [e for e in journal.entries if e["type"] == "event"]:
        assert e["verified"]["how"] == "INDI's report only"
        assert not e["verified"]["indi"]["finished"]
        assert e["frames"] == 0 and e["expected_frames"] == 20
        assert any("closing message" in w and "not checked" in w for w in e["warnings"])


# ---------------------------------------------------------------------- the command line
def test_load_and_run_refuse_an_unidentified_kstars_with_exit_2(
    bus: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`load` and `run` as typed: exit 2, what was tried said, nothing written for Ekos."""
    import threading

    from ekos_occult import cli

    rig = Rig38(
        now=lambda: datetime.now(timezone.utc),
        disk=Path("/"),
        version_prop="",
        json_jobs=False,
        train_args=False,
    )
    loop = asyncio.new_event_loop()
    standin = StandIn(bus, rig)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(standin.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    start = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    csv = tmp_path / "tonight.csv"
    csv.write_text(
        f"name,ra,dec,start,duration,mag\nZenith test,0.0,51.0,{start:%Y-%m-%dT%H:%M:%S},10,8.0\n",
        encoding="utf-8",
    )
    common = ["--bus", bus, "--site", "51.4769,-0.0005,46", "--max-sun-altitude", "90"]
    common += ["--min-altitude", "-90"]
    rc_file = tmp_path / "kstarsrc"
    rc_file.write_text("[Scheduler]\nStopEkosAfterShutdown=false\n", encoding="utf-8")
    try:
        for command, extra in (("load", []), ("run", ["--kstarsrc", str(rc_file)])):
            out = tmp_path / command
            rc = cli.main([command, str(csv), *common, *extra, "--out", str(out)])
            err = capsys.readouterr().err
            assert rc == 2, err
            assert "Cannot tell which KStars is running" in err
            assert "not a kstars executable" in err and "--kstars-version" in err
            assert not list(out.rglob("*.esl")), command  # no Ekos file of a guessed format
    finally:
        asyncio.run_coroutine_threadsafe(standin.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# ---------------------------------------------------------------------- structured state
@pytest.mark.parametrize("log", ["silent", "german"])
def test_without_jobs_json_the_status_signals_decide_the_job(
    bus: str, tmp_path: Path, log: str
) -> None:
    """A 3.7.0 scheduler (no jsonJobs/currentJobJson) whose log is silent or German: the job
    completes by Capture's 'complete' status signal, then the scheduler going idle."""
    clock = FakeClock(T0)
    rig = _rig(
        clock,
        Path("/"),
        version_prop="3.7.0",
        json_jobs=False,
        train_args=False,
        log_silent=log == "silent",
    )
    report, results, journal = _night(bus, tmp_path, rig, clock)
    assert (log == "silent") == (not rig.sched_log)
    assert [r.outcome for r in results] == [Outcome.RECORDED] * 2, [r.detail for r in results]
    assert all(not r.flags for r in results), [r.flags for r in results]
    progress = [e["detail"] for e in journal.entries if e["type"] == "progress"]
    assert any("Align: plate solved" in d for d in progress), progress
    assert any("Capture reported complete" in d for d in progress), progress


@pytest.mark.parametrize("json_jobs", [True, False])
def test_a_failed_plate_solve_is_known_from_structured_state_with_the_log_silent(
    bus: str, tmp_path: Path, json_jobs: bool
) -> None:
    """Align cannot solve and Ekos aborts the job: with jsonJobs by the job's state and stage,
    without it by Align's 'failed' status signal. Recorded anyway, flagged not plate-solved."""
    clock = FakeClock(T0)
    rig = _rig(
        clock,
        Path("/"),
        version_prop="3.8.1" if json_jobs else "3.7.0",
        json_jobs=json_jobs,
        train_args=json_jobs,
        log_silent=True,
        solve_fails=True,
    )
    report, results, journal = _night(bus, tmp_path, rig, clock)
    assert not rig.sched_log  # nothing logged: the outcome came from the integers
    assert [r.outcome for r in results] == [Outcome.RECORDED] * 2, [r.detail for r in results]
    for r in results:
        assert any(f.startswith("pointing not plate-solved") for f in r.flags), r.flags


# ---------------------------------------------------------------------- scheduler options
USER_KSTARSRC = """[General]
Foo=bar

[Scheduler]
StopEkosAfterShutdown=false
ErrorHandlingStrategy=2
ErrorHandlingStrategyDelay=30
SchedulerStartupEnabled=true

[indi]
timeSource=KStars
"""


@pytest.mark.parametrize("interrupted", [False, True])
def test_the_scheduler_options_our_schedules_change_are_put_back(
    bus: str, tmp_path: Path, interrupted: bool
) -> None:
    """3.8: loading our schedules sets error handling 'don't restart' and turns the user's
    startup/shutdown queues off, and KStars saves that. After the night, and after Ctrl-C
    alike, KStars holds the user's options again and the kstarsrc is as it was."""
    clock = FakeClock(T0)
    rc = tmp_path / "kstarsrc"
    rc.write_text(USER_KSTARSRC, encoding="utf-8")
    rig = _rig(clock, Path("/"), kstarsrc=rc)
    before = dict(rig.options)
    changed: list[dict[str, str]] = []
    original = rig.apply_options

    def spy(root: Any) -> None:
        original(root)
        changed.append(dict(rig.options))

    rig.apply_options = spy  # type: ignore[method-assign]
    cancel = T0 + timedelta(minutes=12) if interrupted else None
    report, results, journal = _night(bus, tmp_path, rig, clock, kstarsrc=rc, cancel_after=cancel)
    # During the night our schedules had changed them (and KStars had saved that).
    assert changed[0]["ErrorHandlingStrategy"] == "0"
    assert changed[0]["SchedulerShutdownEnabled"] == "false"
    assert (results is None) == interrupted
    if interrupted:
        assert len(changed) == 2  # one event's schedule, then the restoring one
    # Afterwards: KStars' memory and its kstarsrc hold the user's values again.
    assert (
        rig.options
        == before
        == {
            "ErrorHandlingStrategy": "2",
            "ErrorHandlingStrategyDelay": "30",
            "SchedulerStartupEnabled": "true",
            "SchedulerShutdownEnabled": "true",
        }
    )
    assert rc.read_text(encoding="utf-8") == USER_KSTARSRC
    said = " | ".join(journal.said)
    assert "put back as they were before the night: error handling 2 (delay 30 s)" in said
    assert "written back (only these keys)" in said and "SchedulerShutdownEnabled removed" in said
    assert rig.jobs == []  # the restoring schedule left no job behind


def test_a_mount_that_is_not_there_falls_back_to_indis_report(bus: str, tmp_path: Path) -> None:
    """[indi] remote_record_dir set but nothing mounted: the recordings are not thrown away,
    they are judged by INDI's report, and both the disk and the verdict say why."""
    clock = FakeClock(T0)
    rig = _rig(clock, tmp_path / "sm-disk", mode="remote", indi_host="127.0.0.2")
    kw = {"mount": tmp_path / "not-mounted", "dir_on_host": "/home/stellarmate/occult"}
    report, results, journal = _night(bus, tmp_path, rig, clock, kw)
    assert [r.outcome for r in results] == [Outcome.RECORDED, Outcome.RECORDED]
    for e in [e for e in journal.entries if e["type"] == "event"]:
        assert e["verified"]["how"] == "INDI's report only" and e["frames"] == 21
        assert any("not found through the mount" in w for w in e["warnings"])
        assert any("is not mounted at" in f for f in e["flags"])


def test_a_37_remote_profile_is_found_in_kstars_user_database(
    bus: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3.7 has no Ekos.getProfile: the remote INDI server comes from the profile in KStars'
    user database (the 3.6.2 schema: host and port set in remote mode), found through the
    KStars process on the bus. The night sends properties there and judges the files by
    INDI's report."""
    import socket
    import sqlite3

    from ekos_occult.kstars import procs

    with socket.socket() as probe:  # a free port on the 'other host'
        probe.bind(("127.0.0.2", 0))
        port = int(probe.getsockname()[1])
    data = tmp_path / "share"
    (data / "kstars").mkdir(parents=True)
    db = sqlite3.connect(data / "kstars" / "userdb.sqlite")
    db.execute(
        "CREATE TABLE profile (id INTEGER DEFAULT NULL PRIMARY KEY AUTOINCREMENT, name TEXT NOT "
        "NULL, host TEXT, port INTEGER, city TEXT, province TEXT, country TEXT, "
        "indiwebmanagerport INTEGER DEFAULT NULL, autoconnect INTEGER DEFAULT 1)"
    )
    db.execute("INSERT INTO profile (name) VALUES ('Local rig')")
    db.execute(
        "INSERT INTO profile (name, host, port) VALUES ('Simulators', '127.0.0.2', ?)", (port,)
    )
    db.commit()
    db.close()
    monkeypatch.setattr(procs, "data_home_of", lambda pid: data)
    clock = FakeClock(T0)
    rig = _rig(
        clock,
        tmp_path / "sm",
        version_prop="",
        get_profile=False,
        mode="remote",
        indi_host="127.0.0.2",
        indi_port=port,
    )
    report, results, journal = _night(bus, tmp_path, rig, clock)
    assert report.indi_server is not None and report.indi_server.host == "127.0.0.2"
    assert "user database" in report.indi_server.how and "'Simulators'" in report.indi_server.how
    assert [r.outcome for r in results] == [Outcome.RECORDED] * 2 and not rig.crashed
    for e in [e for e in journal.entries if e["type"] == "event"]:
        assert e["verified"]["how"] == "INDI's report only" and e["frames"] == 21
