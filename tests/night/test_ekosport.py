"""The Ekos port: job phases from real scheduler log lines, JNow → J2000, and the faults a real
Ekos cannot show on cue, on a fake KStars served on a private dbus-daemon.

The fake service (dbus-next service side, defined here) speaks the vendored 3.6.2 interfaces the
adapter uses: Scheduler, Capture, Mount and INDI. It can hang a call, drop its bus name and take
it again, lose the camera, and record a (tiny, real) SER on the record command. The night tests
drive :class:`~ekos_occult.night.runner.NightRunner` with the real adapters over that bus on a fake
clock.

No ``from __future__ import annotations`` here: dbus-next reads the D-Bus signatures of the
service methods from their annotations at run time (hence also the ruff exemption: the
annotations are D-Bus signatures such as "as", not Python names).
"""
# ruff: noqa: F821, F722

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from dbus_next.aio import MessageBus
from dbus_next.constants import PropertyAccess
from dbus_next.service import ServiceInterface, dbus_property, method, signal
from fakes import FakeClock, MemoryJournal, make_plan, planned, write_ser
from privatebus import private_bus

from ekos_occult.errors import DeviceLost, EkosCommandFailed, EkosTimeout, EkosUnavailable
from ekos_occult.kstars.states import AlignState, CaptureState, MountStatus, SchedulerState
from ekos_occult.night.ekosport import (
    DBusEkosPort,
    JobTracker,
    KStarsLink,
    jnow_to_j2000,
    job_name_of,
)
from ekos_occult.night.ports import JobPhase, RecordingRequest, RecordingState
from ekos_occult.night.recorder import IndiStreamRecorder
from ekos_occult.night.records import Limits, Outcome, Reason
from ekos_occult.night.runner import NightRunner
from ekos_occult.sphere import angular_separation_deg as separation_deg

CAM = "CCD Simulator"
NAME = "Deneb 2026-11-21"


# ---------------------------------------------------------------------- pure parts
def feed(tracker: JobTracker, *lines: str) -> JobPhase:
    for line in lines:
        tracker.feed(line)
    return tracker.phase


def test_observed_job_goes_from_slew_to_complete() -> None:
    t = JobTracker()
    t.reset(NAME)
    t.started = True
    # KStars 3.6.2, a Track-only job (docs/kstars-facts.md §7).
    assert feed(t, "Scheduler is awake.", "Scheduler started.") is JobPhase.QUEUED
    assert feed(t, f"Job '{NAME}' is slewing to target.") is JobPhase.SLEWING
    assert feed(t, f"Job '{NAME}' slew is complete.") is JobPhase.SLEWING
    assert feed(t, f"Job '{NAME}' capture is in progress...") is JobPhase.CAPTURING
    assert feed(t, f"Job '{NAME}' is complete.") is JobPhase.COMPLETE
    tail = ("No jobs left in the scheduler queue.", "Shutdown complete.")
    assert feed(t, *tail) is JobPhase.COMPLETE
    t.on_status(SchedulerState.IDLE)
    assert t.progress.phase is JobPhase.COMPLETE and "is complete" in t.progress.detail


@pytest.mark.parametrize(
    ("line", "phase"),
    [
        (f"Job '{NAME}' alignment is complete.", JobPhase.ALIGNING),
        (f"Job '{NAME}' focusing is complete.", JobPhase.QUEUED),
        (f"Job '{NAME}' repositioning is complete.", JobPhase.SLEWING),
        (
            f"Warning: job '{NAME}' alignment procedure failed, marking aborted.",
            JobPhase.ALIGN_FAILED,
        ),
        (
            f"Warning: job '{NAME}' has fixed startup time 21/11 20:05 set in the past, marking "
            "invalid.",
            JobPhase.FAILED,
        ),
        (
            f"Job '{NAME}' has not been processed upon scheduler stop, marking aborted.",
            JobPhase.FAILED,
        ),
        (f"Warning: job '{NAME}' slew failed, marking terminated due to errors.", JobPhase.FAILED),
        (f"Job '{NAME}' is capturing and plate solving.", JobPhase.ALIGNING),
        (f"Job '{NAME}' is complete after #2 batches.", JobPhase.COMPLETE),
        (f"Job 'Other {NAME}' is complete.", JobPhase.QUEUED),
    ],
)
def test_one_line_decides(line: str, phase: JobPhase) -> None:
    t = JobTracker()
    t.reset(NAME)
    assert feed(t, line) is phase


def test_dropped_or_abandoned_jobs_fail_and_phases_never_go_back() -> None:
    t = JobTracker()
    t.reset(NAME)
    t.feed("No jobs left in the scheduler queue.")  # before start: an older job's line
    assert t.phase is JobPhase.QUEUED
    t.started = True
    assert (
        feed(t, f"Job '{NAME}' capture is in progress...", f"Job '{NAME}' is slewing to target.")
        is JobPhase.CAPTURING
    )
    t.on_status(SchedulerState.RUNNING)
    t.on_status(SchedulerState.IDLE)
    assert t.phase is JobPhase.FAILED and "before the job completed" in t.detail
    u = JobTracker()
    u.reset(NAME)
    u.started = True
    assert feed(u, "No jobs left in the scheduler queue after evaluating.") is JobPhase.FAILED


def _running() -> JobTracker:
    t = JobTracker()
    t.reset(NAME)
    t.started = True
    t.on_status(SchedulerState.RUNNING)
    return t


def test_status_signals_alone_carry_a_job_to_complete_and_say_it_was_plate_solved() -> None:
    t = _running()
    t.on_mount(MountStatus.SLEWING)
    assert t.phase is JobPhase.SLEWING
    t.on_align(AlignState.PROGRESS)
    t.on_align(AlignState.COMPLETE)
    assert t.phase is JobPhase.ALIGNING and "plate solved" in t.detail
    t.on_capture(CaptureState.CAPTURING)
    t.on_capture(CaptureState.COMPLETE)
    assert t.phase is JobPhase.CAPTURING
    t.on_status(SchedulerState.IDLE)
    assert t.phase is JobPhase.COMPLETE and "Align: plate solved" in t.detail


def test_align_failed_then_idle_is_not_plate_solved_and_idle_alone_is_a_failure() -> None:
    t = _running()
    t.on_align(AlignState.FAILED)
    t.on_status(SchedulerState.IDLE)
    assert t.phase is JobPhase.ALIGN_FAILED and "Align failed" in t.detail
    u = _running()
    u.on_capture(CaptureState.CAPTURING)
    u.on_status(SchedulerState.IDLE)
    assert u.phase is JobPhase.FAILED


def test_json_abort_while_aligning_is_align_failed_and_a_new_job_forgets_align() -> None:
    t = _running()
    t.structured = True
    t.on_json({"name": NAME, "state": 5, "stage": 5})
    assert t.phase is JobPhase.ALIGN_FAILED
    u = _running()
    u.structured = True
    u.on_align(AlignState.ABORTED)
    u.on_json({"name": NAME, "state": 4, "stage": 13})
    assert u.phase is JobPhase.ALIGN_FAILED  # Align's word, although the stage moved on
    u.reset(NAME)
    assert u.align is None and not u.capture_complete
    v = _running()
    v.structured = True
    v.on_json({"name": NAME, "state": 5, "stage": 13})
    assert v.phase is JobPhase.FAILED


def test_signals_before_the_start_are_an_earlier_jobs() -> None:
    t = JobTracker()
    t.reset(NAME)
    t.on_align(AlignState.FAILED)
    t.on_capture(CaptureState.COMPLETE)
    assert t.align is None and not t.capture_complete


def test_job_name_of_reads_the_single_job(tmp_path: Path) -> None:
    good = tmp_path / "a.esl"
    good.write_text(f"<SchedulerList><Job><Name>{NAME} &amp; co</Name></Job></SchedulerList>")
    assert job_name_of(good) == f"{NAME} & co"
    two = tmp_path / "b.esl"
    two.write_text(
        "<SchedulerList><Job><Name>A</Name></Job><Job><Name>B</Name></Job></SchedulerList>"
    )
    for bad in (two, tmp_path / "missing.esl"):
        with pytest.raises(EkosCommandFailed):
            job_name_of(bad)


def test_jnow_of_the_sandbox_mount_is_vega_in_j2000() -> None:
    # Recorded on the sandbox (KStars 3.6.2, Telescope Simulator) tracking Vega after a Track
    # job: Mount.equatorialCoords at 2026-11-21T21:24:46Z. Vega J2000 (Hipparcos): 279.2347,
    # +38.7837. Its Dec agrees with the apparent place to 1e-5 deg; the simulator's RA sits
    # 0.03 deg (on the sky) off, its own pointing error.
    jnow = (18.632987907850435, 38.80918551712672)
    ra, dec = jnow_to_j2000(*jnow, datetime(2026, 11, 21, 21, 24, 46, tzinfo=timezone.utc))
    assert separation_deg(ra, dec, 279.2347, 38.7837) < 0.04
    assert dec == pytest.approx(38.7837, abs=1e-3)
    assert separation_deg(jnow[0] * 15, jnow[1], 279.2347, 38.7837) > 0.15  # unconverted


# ---------------------------------------------------------------------- fake KStars on a bus
@dataclass
class Rig:
    """The fake KStars' world."""

    clock: FakeClock
    scheduler: int = 0
    log: list[str] = field(default_factory=list)  # newest first, like logText
    job: str = ""
    camera_connected: bool = True
    camera_known: bool = True
    recording_until: datetime | None = None
    record_dir: str = ""
    record_name: str = ""
    exposure_s: float = 0.1
    duration_s: float = 1.0
    hang: asyncio.Event | None = None  # set: calls that hang wait for it
    sent: list[str] = field(default_factory=list)
    service: "FakeKStars | None" = None  # the fake KStars' bus connection, once started
    on_busy_poll: "Callable[[], object] | None" = None  # called when a recording is polled


async def _maybe_hang(rig: Rig) -> None:
    if rig.hang is not None:
        await rig.hang.wait()


class FakeScheduler(ServiceInterface):
    def __init__(self, rig: Rig) -> None:
        super().__init__("org.kde.kstars.Ekos.Scheduler")
        self.rig = rig

    @dbus_property(access=PropertyAccess.READ)
    async def status(self) -> "i":
        await _maybe_hang(self.rig)
        return self.rig.scheduler

    @dbus_property(access=PropertyAccess.READ)
    def logText(self) -> "as":  # noqa: N802 - the D-Bus name
        return self.rig.log

    @method()
    async def loadScheduler(self, path: "s") -> "b":  # noqa: N802
        await _maybe_hang(self.rig)
        self.rig.job = job_name_of(Path(path))
        return True

    @method()
    def removeAllJobs(self) -> None:  # noqa: N802
        self.rig.job = ""

    @method()
    def start(self) -> None:
        # The whole Track-only job at once: its signals reach the client before this reply.
        self._status(2)
        for text in (
            "Scheduler started.",
            f"Job '{self.rig.job}' is slewing to target.",
            f"Job '{self.rig.job}' capture is in progress...",
            f"Job '{self.rig.job}' is complete.",
            "No jobs left in the scheduler queue.",
        ):
            self.rig.log.insert(0, f"2026-11-21T20:00:00 {text}")
            self.newLog(text)
        self._status(0)

    @method()
    def stop(self) -> None:
        self._status(0)

    def _status(self, value: int) -> None:
        self.rig.scheduler = value
        self.newStatus(value)

    @signal()
    def newLog(self, text: str) -> "s":  # noqa: N802
        return text

    @signal()
    def newStatus(self, value: int) -> "(i)":  # noqa: N802
        return [value]


class FakeCapture(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.kde.kstars.Ekos.Capture")

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def camera(self) -> "s":
        return CAM

    @method()
    def abort(self) -> None:
        pass


class FakeMount(ServiceInterface):
    def __init__(self) -> None:
        super().__init__("org.kde.kstars.Ekos.Mount")
        self.parks = 0
        self.refuse_park = False

    @method()
    def park(self) -> "b":
        self.parks += 1
        return not self.refuse_park

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return 3  # tracking

    @dbus_property(access=PropertyAccess.READ)
    def equatorialCoords(self) -> "ad":  # noqa: N802
        return [20.6905, 45.2803]


class FakeIndi(ServiceInterface):
    """org.kde.kstars.INDI for one camera, recording like INDI's stream recorder."""

    def __init__(self, rig: Rig) -> None:
        super().__init__("org.kde.kstars.INDI")
        self.rig = rig
        self.pending: dict[tuple[str, str], str] = {}

    @method()
    def getSwitch(self, device: "s", prop: "s", element: "s") -> "s":  # noqa: N802
        if not self.rig.camera_known:
            return "Invalid"
        if (prop, element) == ("CONNECTION", "CONNECT"):
            return "On" if self.rig.camera_connected else "Off"
        return "Off"

    @method()
    def getProperties(self, device: "s") -> "as":  # noqa: N802
        return [f"{device}.CONNECTION.CONNECT"]  # an INDI 1.9 camera: nothing to pin

    @method()
    def getNumber(self, device: "s", prop: "s", element: "s") -> "d":  # noqa: N802
        return {"CCD_MAX_X": 1280.0, "CCD_MAX_Y": 1024.0, "CCD_BITSPERPIXEL": 16.0}.get(
            element, float("nan")
        )

    @method()
    def getPropertyState(self, device: "s", prop: "s") -> "s":  # noqa: N802
        if not self.rig.camera_known:
            return "Invalid"
        until = self.rig.recording_until
        busy = until is not None and self.rig.clock.now() < until
        if busy and prop == "RECORD_STREAM" and self.rig.on_busy_poll is not None:
            self.rig.on_busy_poll()
        return "Busy" if busy else "Idle"

    @method()
    def setText(self, device: "s", prop: "s", element: "s", value: "s") -> "b":  # noqa: N802
        self.pending[(prop, element)] = value
        return self.rig.camera_known

    @method()
    def setNumber(self, device: "s", prop: "s", element: "s", value: "d") -> "b":  # noqa: N802
        self.pending[(prop, element)] = str(value)
        return self.rig.camera_known

    @method()
    def setSwitch(self, device: "s", prop: "s", element: "s", value: "s") -> "b":  # noqa: N802
        self.pending[(prop, element)] = value
        return self.rig.camera_known

    @method()
    def sendProperty(self, device: "s", prop: "s") -> "b":  # noqa: N802
        if not self.rig.camera_connected:
            return False
        self.rig.sent.append(prop)
        p = self.pending
        if prop == "RECORD_FILE":
            self.rig.record_dir = p[(prop, "RECORD_FILE_DIR")]
            self.rig.record_name = p[(prop, "RECORD_FILE_NAME")]
        elif prop == "STREAMING_EXPOSURE":
            self.rig.exposure_s = float(p[(prop, "STREAMING_EXPOSURE_VALUE")])
        elif prop == "RECORD_OPTIONS":
            self.rig.duration_s = float(p[(prop, "RECORD_DURATION")])
        elif prop == "RECORD_STREAM" and p.get((prop, "RECORD_DURATION_ON")) == "On":
            self._record()
        return True

    def _record(self) -> None:
        rig, now = self.rig, self.rig.clock.now()
        rig.recording_until = now + timedelta(seconds=rig.duration_s)
        name = rig.record_name.replace("_T_", f"{now:%Y-%m-%d@%H-%M-%S}")
        frames = int(rig.duration_s / rig.exposure_s)
        write_ser(
            Path(rig.record_dir) / f"{name}.ser",
            [now + timedelta(seconds=0.02 + i * rig.exposure_s) for i in range(frames)],
        )


@pytest.fixture(scope="module")
def bus_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private session bus for this module's fake KStars."""
    with private_bus(tmp_path_factory.mktemp("bus") / "bus") as address:
        yield address


class FakeKStars:
    """The fake service's connection: export the interfaces, own or drop the KStars name."""

    def __init__(self, address: str, rig: Rig) -> None:
        self.address, self.rig = address, rig
        self.bus: MessageBus | None = None
        self.mount = FakeMount()

    async def start(self) -> None:
        self.bus = await MessageBus(bus_address=self.address).connect()
        for path, iface in (
            ("/KStars/Ekos/Scheduler", FakeScheduler(self.rig)),
            ("/KStars/Ekos/Capture", FakeCapture()),
            ("/KStars/Ekos/Mount", self.mount),
            ("/KStars/INDI", FakeIndi(self.rig)),
        ):
            self.bus.export(path, iface)
        await self.own()

    async def own(self) -> None:
        assert self.bus is not None
        await self.bus.request_name("org.kde.kstars")

    async def drop(self) -> None:
        assert self.bus is not None
        await self.bus.release_name("org.kde.kstars")

    async def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()
            await self.bus.wait_for_disconnect()
            for name in ("_stream", "_sock"):  # dbus-next only shuts its socket down
                getattr(self.bus, name).close()


async def _with_port(address: str, rig: Rig, scenario, timeout_s: float = 0.5):  # type: ignore[no-untyped-def]
    kstars = FakeKStars(address, rig)
    await kstars.start()
    rig.service = kstars
    link = KStarsLink(address, timeout_s=timeout_s)
    await link.open()
    port = DBusEkosPort(link, CAM, rig.clock)
    await port.subscribe()
    try:
        return await scenario(kstars, link, port)
    finally:
        if rig.hang is not None:
            rig.hang.set()
        await port.close()
        await link.close()
        await kstars.stop()


def _esl(tmp_path: Path, name: str = NAME) -> Path:
    path = tmp_path / "job.esl"
    path.write_text(f"<SchedulerList><Job><Name>{name}</Name></Job></SchedulerList>")
    return path


T0 = datetime(2026, 11, 21, 20, 0, tzinfo=timezone.utc)


def test_a_call_that_hangs_raises_ekos_timeout(bus_address: str, tmp_path: Path) -> None:
    rig = Rig(FakeClock(T0))

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        rig.hang = asyncio.Event()
        loop = asyncio.get_running_loop()
        for call in (port.load_job(_esl(tmp_path)), port.scheduler_state()):
            t = loop.time()
            with pytest.raises(EkosTimeout):
                await call
            assert loop.time() - t < 2.0

    asyncio.run(_with_port(bus_address, rig, scenario))


def test_park_mount_calls_ekos_mount_park_and_reports_a_refusal(
    bus_address: str, tmp_path: Path
) -> None:
    rig = Rig(FakeClock(T0))

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        await port.park_mount()
        assert kstars.mount.parks == 1
        kstars.mount.refuse_park = True
        with pytest.raises(EkosCommandFailed, match="refused to park"):
            await port.park_mount()

    asyncio.run(_with_port(bus_address, rig, scenario))


def test_kstars_leaving_the_bus_then_coming_back(bus_address: str, tmp_path: Path) -> None:
    rig = Rig(FakeClock(T0))

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        assert await port.scheduler_state() is SchedulerState.IDLE
        await kstars.drop()
        with pytest.raises(EkosUnavailable):
            await port.scheduler_state()
        with pytest.raises(EkosUnavailable):
            await port.load_job(_esl(tmp_path))
        assert await port.reattach() is False
        await kstars.own()
        assert await port.reattach() is True
        await port.load_job(_esl(tmp_path))
        await port.start_scheduler()  # signals arrive on the new connection's subscription
        assert (await port.job_progress()).phase is JobPhase.COMPLETE

    asyncio.run(_with_port(bus_address, rig, scenario))


def test_an_earlier_run_of_the_same_job_in_the_log_is_not_this_run(
    bus_address: str, tmp_path: Path
) -> None:
    rig = Rig(FakeClock(T0))
    # OBSERVED on 3.6.2: loadScheduler keeps the log; a re-run of a night loads the same name.
    rig.log = [
        f"2026-11-21T19:00:00 Job '{NAME}' is complete.",
        f"2026-11-21T18:59:00 Job '{NAME}' capture is in progress...",
    ]

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        await port.load_job(_esl(tmp_path))
        assert (await port.job_progress()).phase is JobPhase.QUEUED
        await port.start_scheduler()
        assert (await port.job_progress()).phase is JobPhase.COMPLETE

    asyncio.run(_with_port(bus_address, rig, scenario))


def test_camera_disconnected_or_gone(bus_address: str, tmp_path: Path) -> None:
    rig = Rig(FakeClock(T0))

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        rec = IndiStreamRecorder(lambda: link.client, CAM, timeout_s=0.5)
        assert await port.is_camera_connected() is True
        rig.camera_connected = False
        assert await port.is_camera_connected() is False
        with pytest.raises(DeviceLost):
            await rec.configure(RecordingRequest(tmp_path, "Deneb_x", 0.1, 1.0))
        rig.camera_known = False  # KStars forgot the device: "Invalid" everywhere
        assert await port.is_camera_connected() is False
        assert await rec.recording_state() is RecordingState.NO_DEVICE

    asyncio.run(_with_port(bus_address, rig, scenario))


class HookClock(FakeClock):
    """A fake clock that runs ``hooks`` (time, coroutine function) once the time is reached."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.hooks: list[tuple[datetime, object]] = []

    async def sleep_until(self, t: datetime) -> None:
        await super().sleep_until(t)
        for when, hook in list(self.hooks):
            if self.now() >= when:
                self.hooks.remove((when, hook))
                await hook()  # type: ignore[operator]


def _night(
    address: str,
    tmp_path: Path,
    rig: Rig,
    free: int,  # type: ignore[no-untyped-def]
    cancel_when_busy: bool = False,
):
    plan = make_plan(
        planned("Deneb", 10, lead_s=60, duration_s=2.0),
        planned("Vega", 20, lead_s=60, duration_s=2.0),
    )
    jobs = {}
    for ev in plan.events:
        jobs[ev.name] = tmp_path / f"{ev.name}.esl"
        jobs[ev.name].write_text(
            f"<SchedulerList><Job><Name>{ev.name} job</Name></Job></SchedulerList>"
        )
    journal = MemoryJournal()

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        rec = IndiStreamRecorder(lambda: link.client, CAM, timeout_s=0.5, disk_free=lambda p: free)
        runner = NightRunner(
            plan,
            ekos=port,
            recorder=rec,
            clock=rig.clock,
            journal=journal,
            job_files=jobs,
            recordings_dir=tmp_path / "rec",
            limits=Limits(poll_s=1.0),
        )
        task = asyncio.ensure_future(runner.run())
        if cancel_when_busy:
            rig.on_busy_poll = task.cancel  # Ctrl-C while the first event records
        return await task

    return asyncio.run(_with_port(address, rig, scenario)), journal


def test_night_carries_on_when_kstars_leaves_and_returns(bus_address: str, tmp_path: Path) -> None:
    clock = HookClock(T0)
    rig = Rig(clock)

    async def gone() -> None:
        assert rig.service is not None
        await rig.service.drop()

    async def back() -> None:
        assert rig.service is not None
        await rig.service.own()

    # Gone after the first event, back 30 s after the second one's job should have started.
    clock.hooks = [
        (T0 + timedelta(minutes=12), gone),
        (T0 + timedelta(minutes=19, seconds=30), back),
    ]
    results, journal = _night(bus_address, tmp_path, rig, free=10**12)
    assert [(r.name, r.outcome) for r in results] == [
        ("Deneb", Outcome.RECORDED),
        ("Vega", Outcome.RECORDED),
    ]
    said = [e.get("what") for e in journal.entries if e["type"] == "night"]
    assert "kstars lost" in said and "kstars back" in said
    assert all(r.file is not None and r.file.exists() for r in results)


def test_disk_too_full_refuses_the_recording(bus_address: str, tmp_path: Path) -> None:
    rig = Rig(FakeClock(T0))
    results, journal = _night(bus_address, tmp_path, rig, free=100 * 1024 * 1024)
    assert [(r.outcome, r.reason) for r in results] == [(Outcome.FAILED, Reason.DISK_FULL)] * 2
    assert "not enough free disk" in results[0].detail
    assert "RECORD_STREAM" not in rig.sent and "RECORD_FILE" not in rig.sent


def test_ctrl_c_while_recording_stops_recording_and_stream(
    bus_address: str, tmp_path: Path
) -> None:
    rig = Rig(FakeClock(T0))
    with pytest.raises(asyncio.CancelledError):
        _night(bus_address, tmp_path, rig, free=10**12, cancel_when_busy=True)
    record = rig.sent.index("RECORD_STREAM")
    assert rig.sent[record + 1 :] == ["RECORD_STREAM", "CCD_VIDEO_STREAM"]  # RECORD_OFF, off


def test_ctrl_c_is_journaled_and_the_journal_closed(bus_address: str, tmp_path: Path) -> None:
    rig = Rig(FakeClock(T0))
    journal = MemoryJournal()
    plan = make_plan(planned("Deneb", 10, lead_s=60, duration_s=2.0))
    esl = _esl(tmp_path, "Deneb job")

    async def scenario(kstars, link, port):  # type: ignore[no-untyped-def]
        rec = IndiStreamRecorder(lambda: link.client, CAM, timeout_s=0.5)
        runner = NightRunner(
            plan,
            ekos=port,
            recorder=rec,
            clock=rig.clock,
            journal=journal,
            job_files={"Deneb": esl},
            recordings_dir=tmp_path / "rec",
        )
        task = asyncio.ensure_future(runner.run())
        rig.on_busy_poll = task.cancel
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(_with_port(bus_address, rig, scenario))
    assert journal.closed
    last = [e for e in journal.entries if e["type"] == "event"][-1]
    assert (last["outcome"], last["reason"]) == ("failed", "interrupted")
    assert journal.entries[-1] == {**journal.entries[-1], "type": "night", "what": "interrupted"}
