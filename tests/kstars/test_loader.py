"""Preflight and loader logic against a scripted fake of the Ekos client (no D-Bus).

The real KStars 3.6.2 is exercised by tests/e2e/test_load.py; these tests cover the decisions
(refuse, stop, start Ekos, quote the scheduler's log, version and time zone choice) and the
faults a real Ekos cannot be made to show on cue (a scheduler that never stops, a start that
fails or hangs).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes import FakeClock
from render_helpers import three_event_plan

from ekos_occult.ekosfiles.render import render_night
from ekos_occult.ekosfiles.rendered import RenderedNight
from ekos_occult.errors import (
    ConfigError,
    EkosCommandFailed,
    EkosTimeout,
    EkosUnavailable,
)
from ekos_occult.files import write_night
from ekos_occult.kstars.bus import NOT_RUNNING_MESSAGE
from ekos_occult.kstars.client import KStarsLocation
from ekos_occult.kstars.events import EkosEvent, EkosSignal, EventStream
from ekos_occult.kstars.indiwire import IndiServer
from ekos_occult.kstars.kstars_calls import KStarsIdentity
from ekos_occult.kstars.loader import is_problem_line, load_actions, load_night, make_idle
from ekos_occult.kstars.readiness import (
    Check,
    Verdict,
    check_rig,
    ensure_ekos_ready,
    require_ready,
    to_json_ready,
    version_check,
)
from ekos_occult.kstars.states import CommunicationStatus, SchedulerState
from ekos_occult.settings import EkosSettings, Settings

OK = CommunicationStatus.SUCCESS
IDLE = CommunicationStatus.IDLE
T0 = datetime(2026, 11, 21, 21, 0, tzinfo=timezone.utc)


class FakeEkosClient:
    """A scripted stand-in for ``EkosClient``; records every call by name."""

    def __init__(self) -> None:
        self.version = "3.6"
        self.calls: list[str] = []
        self.running = True
        self.kstars = "3.6.2"
        self.ekos_open = True
        self.ekos, self.indi = OK, OK
        self.start_reads = 2  # status reads after start() until the profile is up
        self.start_result = OK
        self.profile_names = ["Simulators", "Observatory"]
        self.connected = {"CCD Simulator": True, "Telescope Simulator": True}
        self.camera = "CCD Simulator"
        self.camera_empty_reads = 0
        self.tz_hours = 0.0
        self.scheduler = SchedulerState.IDLE
        self.stop_reads: int | None = 1  # scheduler reads after stop() until idle; None: never
        self.load_answer = True
        self.load_lines: list[str] = []
        self.jobs: list[str] = []
        self.ekos_lines = [  # newest first, like KStars' logText
            "2026-11-21T21:00:05 Failed to connect to local INDI server localhost:7624",
            "2026-11-21T21:00:00 Starting INDI services...",
        ]
        self._streams: list[EventStream] = []
        self._countdown: int | None = None
        self._stop_countdown: int | None = None

    # KStars
    async def is_running(self) -> bool:
        self.calls.append("is_running")
        return self.running

    async def kstars_version(self) -> str | None:
        return self.kstars

    async def identify(self) -> KStarsIdentity:
        how = "/usr/bin/kstars --version" if self.kstars else "nothing told the version"
        return KStarsIdentity(self.kstars, how)

    async def indi_server(self, profile: str | None = None) -> IndiServer | None:
        return IndiServer("127.0.0.1", 7624, "a test")

    async def location(self) -> KStarsLocation:
        return KStarsLocation("Somewhere", 50.0, 10.0, self.tz_hours, self.tz_hours)

    # Ekos
    async def is_ekos_open(self) -> bool:
        return self.ekos_open

    async def open_ekos_window(self, timeout_s: float = 30.0) -> None:
        self.calls.append("open_ekos_window")
        self.ekos_open = True

    def _tick(self) -> None:
        if self._countdown is not None:
            self._countdown -= 1
            if self._countdown <= 0:
                self.ekos = self.indi = self.start_result
                self._countdown = None

    async def ekos_status(self) -> CommunicationStatus:
        self._tick()
        return self.ekos

    async def indi_status(self) -> CommunicationStatus:
        return self.indi

    async def profiles(self) -> list[str]:
        return list(self.profile_names)

    async def set_profile(self, name: str) -> None:
        self.calls.append(f"set_profile:{name}")

    async def start_ekos(self) -> None:
        self.calls.append("start_ekos")
        self.ekos = self.indi = CommunicationStatus.PENDING
        self._countdown = self.start_reads

    async def ekos_log(self) -> list[str]:
        return list(self.ekos_lines)

    async def devices(self) -> list[str]:
        return list(self.connected)

    async def is_device_connected(self, device: str) -> bool:
        return self.connected[device]

    async def device_properties(self, device: str) -> list[str]:
        return []  # (only `check` asks: its stream-recording checks)

    async def camera_name(self) -> str:
        if self.camera_empty_reads > 0:
            self.camera_empty_reads -= 1
            return ""
        return self.camera

    # Scheduler
    async def scheduler_status(self) -> SchedulerState:
        if self._stop_countdown is not None:
            self._stop_countdown -= 1
            if self._stop_countdown <= 0:
                self.scheduler = SchedulerState.IDLE
                self._stop_countdown = None
        return self.scheduler

    async def stop_scheduler(self) -> None:
        self.calls.append("stop_scheduler")
        self._stop_countdown = self.stop_reads

    async def remove_all_jobs(self) -> None:
        self.calls.append("remove_all_jobs")
        self.jobs.clear()

    async def load_schedule(self, path: Path) -> bool:
        self.calls.append(f"load_schedule:{path.name}")
        for line in self.load_lines:
            for stream in self._streams:
                stream.put(EkosEvent(EkosSignal.SCHEDULER_LOG, line))
        if self.load_answer:
            # Like KStars 3.6.2: loading replaces the queue with the file's jobs.
            text = path.read_text(encoding="utf-8")
            self.jobs = re.findall(r"<Name>(.*?)</Name>", text)
        return self.load_answer

    @asynccontextmanager
    async def listen(self, *signals: EkosSignal) -> AsyncIterator[EventStream]:
        stream = EventStream()
        self._streams.append(stream)
        try:
            yield stream
        finally:
            self._streams.remove(stream)


def ready(client: FakeEkosClient, settings: Settings | None = None, *, start_ekos: bool = False):
    clock = FakeClock(T0)
    return asyncio.run(
        ensure_ekos_ready(client, settings or Settings(), start_ekos=start_ekos, clock=clock)
    )


def with_ekos(**changes: object) -> Settings:
    return Settings(ekos=EkosSettings(**changes))  # type: ignore[arg-type]


# ------------------------------------------------------------------ readiness for load/run


def test_kstars_missing_from_the_bus_says_how_to_start_it() -> None:
    client = FakeEkosClient()
    client.running = False
    with pytest.raises(EkosUnavailable) as err:
        ready(client)
    assert str(err.value) == NOT_RUNNING_MESSAGE  # the words of the bus and of `check`
    assert "`ekos-occult sandbox start`" in str(err.value)


def test_ready_ekos_reports_version_camera_devices_and_zone() -> None:
    client = FakeEkosClient()
    client.tz_hours = 2.0
    client.version = "3.7"
    report = ready(client)
    assert (report.kstars_version, report.file_format, report.format_source) == (
        "3.6.2",
        "3.6",
        "detected",
    )
    assert client.version == "3.6"  # the adapter now numbers states like 3.6
    assert report.camera == "CCD Simulator"
    assert report.devices == ("CCD Simulator", "Telescope Simulator")
    assert report.started_profile is None
    assert report.tz.utcoffset(T0) == timedelta(hours=2)
    assert "KStars 3.6.2" in report.version_text and "detected" in report.version_text
    assert "start_ekos" not in client.calls


def test_newer_kstars_gets_the_newer_format() -> None:
    client = FakeEkosClient()
    client.kstars = "3.7.4"
    report = ready(client)
    assert (report.file_format, report.format_source) == ("3.7", "detected")
    assert client.version == "3.7"


def test_unknown_version_is_refused_never_assumed_36() -> None:
    client = FakeEkosClient()
    client.kstars = None
    with pytest.raises(ConfigError, match="nothing told the version") as err:
        ready(client)
    assert "--kstars-version 3.6" in str(err.value) and "not the 3.6 format" in str(err.value)


def test_configured_version_wins_but_a_mismatch_is_noted() -> None:
    client = FakeEkosClient()
    report = ready(client, with_ekos(kstars_version="3.7"))
    assert (report.file_format, report.format_source) == ("3.7", "configured")
    assert any("3.6.2" in n and "writing 3.7" in n for n in report.notes)
    same = ready(FakeEkosClient(), with_ekos(kstars_version="3.6"))
    assert not any("was given" in n for n in same.notes)
    assert any("scheduler options" in n for n in same.notes)  # said before changing them


def test_closed_ekos_without_start_ekos_is_refused_with_a_hint() -> None:
    client = FakeEkosClient()
    client.ekos_open = False
    with pytest.raises(EkosUnavailable, match="--start-ekos"):
        ready(client)
    assert "open_ekos_window" not in client.calls


def test_stopped_ekos_without_start_ekos_names_the_profile() -> None:
    client = FakeEkosClient()
    client.ekos = client.indi = IDLE
    with pytest.raises(EkosUnavailable, match="'Simulators'.*--start-ekos"):
        ready(client)
    assert "start_ekos" not in client.calls


def test_start_ekos_opens_ekos_and_starts_the_configured_profile() -> None:
    client = FakeEkosClient()
    client.ekos_open = False
    client.ekos = client.indi = IDLE
    client.start_reads = 5
    report = ready(client, with_ekos(profile="Observatory"), start_ekos=True)
    assert client.calls[-3:] == ["open_ekos_window", "set_profile:Observatory", "start_ekos"]
    assert report.started_profile == "Observatory"


def test_start_ekos_with_an_unknown_profile_is_a_config_error() -> None:
    client = FakeEkosClient()
    client.ekos = client.indi = IDLE
    with pytest.raises(ConfigError, match="'Nope'.*Simulators, Observatory"):
        ready(client, with_ekos(profile="Nope"), start_ekos=True)
    assert "start_ekos" not in client.calls


def test_failed_start_quotes_ekos_log() -> None:
    client = FakeEkosClient()
    client.ekos = client.indi = IDLE
    client.start_result = CommunicationStatus.ERROR
    with pytest.raises(EkosCommandFailed) as err:
        ready(client, start_ekos=True)
    text = str(err.value)
    assert "could not start" in text
    # the newest-first log is quoted oldest first
    assert text.index("Starting INDI services") < text.index("Failed to connect")


def test_a_start_that_never_finishes_times_out_on_the_clock() -> None:
    client = FakeEkosClient()
    client.ekos = client.indi = IDLE
    client.start_reads = 10**9
    clock = FakeClock(T0)
    with pytest.raises(EkosUnavailable, match="within 90 s"):
        asyncio.run(ensure_ekos_ready(client, Settings(), start_ekos=True, clock=clock))
    assert clock.now() - T0 >= timedelta(seconds=90)


def test_a_profile_being_started_by_someone_else_is_waited_for() -> None:
    client = FakeEkosClient()
    client.ekos = client.indi = CommunicationStatus.PENDING
    client._countdown = 3
    report = ready(client)  # no --start-ekos needed: Ekos is already starting
    assert report.started_profile is None
    assert "start_ekos" not in client.calls


def test_a_disconnected_device_is_named() -> None:
    client = FakeEkosClient()
    client.connected["Telescope Simulator"] = False
    with pytest.raises(EkosUnavailable, match="Telescope Simulator"):
        ready(client)


def test_no_devices_at_all() -> None:
    client = FakeEkosClient()
    client.connected = {}
    with pytest.raises(EkosUnavailable, match="no INDI device"):
        ready(client)


def test_camera_name_may_appear_late() -> None:
    client = FakeEkosClient()
    client.camera_empty_reads = 3
    assert ready(client).camera == "CCD Simulator"


def test_no_camera_in_capture() -> None:
    client = FakeEkosClient()
    client.camera = ""
    with pytest.raises(EkosUnavailable, match="Capture module has no camera"):
        ready(client)


def test_configured_camera_must_be_a_device() -> None:
    assert ready(FakeEkosClient(), with_ekos(camera="Telescope Simulator")).camera == (
        "Telescope Simulator"
    )
    with pytest.raises(EkosUnavailable, match="'ZWO ASI174'"):
        ready(FakeEkosClient(), with_ekos(camera="ZWO ASI174"))


def test_require_ready_raises_the_failing_checks_words_in_the_type_asked() -> None:
    fine = [Check("a", Verdict.OK, "fine"), Check("b", Verdict.WARNING, "so-so", "Look.")]
    require_ready(fine)  # warnings and unknowns do not stop a command
    bad = [
        *fine,
        Check("c", Verdict.PROBLEM, "broken", "Mend it."),
        Check("d", Verdict.PROBLEM, "gone"),
    ]
    with pytest.raises(EkosUnavailable) as err:
        require_ready(bad)
    assert str(err.value) == "broken. Mend it.\ngone"
    with pytest.raises(ConfigError, match="^broken. Mend it."):
        require_ready(bad, ConfigError)


def test_check_json_keeps_its_keys() -> None:
    report = to_json_ready([Check("clock", Verdict.WARNING, "slow", "Wait.")])
    assert report == {
        "ok": True,
        "checks": [
            {
                "name": "clock",
                "verdict": "warning",
                "detail": "slow",
                "fix": "Wait.",
                "night_ending": False,
            }
        ],
    }


def _closed(c: FakeEkosClient) -> None:
    c.ekos_open = False


def _stopped(c: FakeEkosClient) -> None:
    c.ekos = c.indi = IDLE


def _loose(c: FakeEkosClient) -> None:
    c.connected["Telescope Simulator"] = False


def _no_camera(c: FakeEkosClient) -> None:
    c.camera = ""


def _not_running(c: FakeEkosClient) -> None:
    c.running = False


@pytest.mark.parametrize(
    ("fault", "name"),
    [
        (_not_running, "kstars"),
        (_closed, "ekos"),
        (_stopped, "ekos"),
        (_loose, "devices"),
        (_no_camera, "camera"),
    ],
)
def test_load_and_run_stop_with_the_words_check_prints(fault, name: str) -> None:  # type: ignore[no-untyped-def]
    # One vocabulary: the check that `check` lists as a problem is the error `load`/`run` raise.
    client = FakeEkosClient()
    fault(client)
    checks = asyncio.run(check_rig(client, profile="Simulators"))  # type: ignore[arg-type]
    problems = [c for c in checks if c.verdict is Verdict.PROBLEM]
    assert problems[0].name == name  # (the fake camera has no recording properties either)
    with pytest.raises(EkosUnavailable) as err:
        ready(client)
    assert str(err.value) == problems[0].message


def test_a_configured_camera_that_is_no_device_is_the_same_problem_in_check_and_load() -> None:
    client = FakeEkosClient()
    checks = asyncio.run(check_rig(client, camera="ZWO ASI174"))  # type: ignore[arg-type]
    camera = next(c for c in checks if c.name == "camera")
    assert camera.verdict is Verdict.PROBLEM and "'ZWO ASI174'" in camera.detail
    with pytest.raises(EkosUnavailable) as err:
        ready(FakeEkosClient(), with_ekos(camera="ZWO ASI174"))
    assert str(err.value) == camera.message


def test_the_version_check_is_what_load_refuses_or_notes() -> None:
    unknown = KStarsIdentity(None, "nothing told the version")
    refused = version_check(unknown, "auto")
    assert refused.check.verdict is Verdict.PROBLEM and refused.format is None
    client = FakeEkosClient()
    client.kstars = None
    with pytest.raises(ConfigError) as err:
        ready(client)
    assert str(err.value) == refused.check.message
    configured = version_check(unknown, "3.7")
    assert (configured.check.verdict, configured.format) == (Verdict.OK, "3.7")
    mismatch = version_check(KStarsIdentity("3.6.2", "/usr/bin/kstars --version"), "3.7")
    assert mismatch.check.verdict is Verdict.WARNING
    noted = ready(FakeEkosClient(), with_ekos(kstars_version="3.7")).notes
    assert f"{mismatch.check.detail}." in noted


# ------------------------------------------------------------------ loader


@pytest.fixture
def night(tmp_path: Path) -> RenderedNight:
    return render_night(three_event_plan(), Settings(), version="3.6", night_dir=tmp_path / "night")


def load(client: FakeEkosClient, night: RenderedNight, *, force: bool = False):
    written: list[tuple[Path, ...]] = []

    def write() -> tuple[Path, ...]:
        written.append(write_night(night))
        return written[-1]

    report = asyncio.run(load_night(client, night, write, force=force, clock=FakeClock(T0)))
    return report, written


def test_load_empties_the_queue_then_loads_the_night(night: RenderedNight) -> None:
    client = FakeEkosClient()
    report, written = load(client, night)
    assert client.calls[-2:] == ["remove_all_jobs", f"load_schedule:{night.night}.esl"]
    assert report.schedule == Path(night.night_dir) / f"{night.night}.esl"
    assert report.schedule.is_file() and written[0][-1] == report.schedule
    assert (
        [j.name for j in report.jobs]
        == client.jobs
        == ["star1 2023-02-08", "(41) Daphne 2023-02-09", "TYC 1234-01102-1 2023-02-09"]
    )
    assert report.ekos_log == () and report.stopped is None
    assert report.status is SchedulerState.IDLE


def test_loading_twice_leaves_the_same_jobs(night: RenderedNight) -> None:
    client = FakeEkosClient()
    client.jobs = ["yesterday's job"]
    load(client, night)
    first = list(client.jobs)
    load(client, night)
    assert client.jobs == first and "yesterday's job" not in first
    assert client.calls.count("remove_all_jobs") == 2


@pytest.mark.parametrize(
    "state",
    [
        SchedulerState.RUNNING,
        SchedulerState.STARTUP,
        SchedulerState.PAUSED,
        SchedulerState.SHUTDOWN,
    ],
)
def test_a_busy_scheduler_is_refused_and_nothing_happens(
    night: RenderedNight, state: SchedulerState
) -> None:
    client = FakeEkosClient()
    client.scheduler = state
    with pytest.raises(EkosCommandFailed, match=f"scheduler is {state.value}.*--force"):
        load(client, night)
    assert not {"stop_scheduler", "remove_all_jobs"} & set(client.calls)
    assert not Path(night.night_dir).exists()  # no file written either


def test_force_stops_the_scheduler_and_waits_for_idle(night: RenderedNight) -> None:
    client = FakeEkosClient()
    client.scheduler = SchedulerState.RUNNING
    client.stop_reads = 4
    report, _ = load(client, night, force=True)
    assert report.stopped is SchedulerState.RUNNING
    assert client.calls.index("stop_scheduler") < client.calls.index("remove_all_jobs")
    assert client.jobs and report.status is SchedulerState.IDLE


def test_force_with_a_scheduler_that_never_stops_times_out(night: RenderedNight) -> None:
    client = FakeEkosClient()
    client.scheduler = SchedulerState.RUNNING
    client.stop_reads = None
    with pytest.raises(EkosTimeout, match="still running.*nothing was loaded"):
        load(client, night, force=True)
    assert "remove_all_jobs" not in client.calls
    assert not Path(night.night_dir).exists()


def test_an_aborted_scheduler_counts_as_idle() -> None:
    client = FakeEkosClient()
    client.scheduler = SchedulerState.ABORTED
    assert asyncio.run(make_idle(client, force=False, clock=FakeClock(T0))) is None


def test_unreadable_file_quotes_the_scheduler_log(night: RenderedNight) -> None:
    client = FakeEkosClient()
    client.load_answer = False
    client.load_lines = ["Line 25: closing tag Job does not match Name"]
    with pytest.raises(EkosCommandFailed) as err:
        load(client, night)
    assert "could not read" in str(err.value)
    assert "  Line 25: closing tag Job does not match Name" in str(err.value)


def test_a_warning_while_loading_is_a_refusal(night: RenderedNight) -> None:
    client = FakeEkosClient()
    client.load_lines = ["Warning: Target name is required."]
    with pytest.raises(
        EkosCommandFailed, match="but reported problems with it(.|\n)*Target name is required"
    ):
        load(client, night)


def test_an_informative_line_is_reported_not_refused(night: RenderedNight) -> None:
    client = FakeEkosClient()
    client.load_lines = ["Scheduler list loaded."]
    report, _ = load(client, night)
    assert report.ekos_log == ("Scheduler list loaded.",)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("Warning: Target name is required.", True),
        ("Unable to open sequence queue file '/x.esq'", True),
        (
            "Warning: job 'A' has fixed startup time 21/11 20:05 set in the past, marking invalid.",
            True,
        ),
        ("Line 25: closing tag Job does not match Name", True),
        ("Error: Failed to load scheduler file", True),
        ("Scheduler list loaded.", False),
        ("Job 'A' at row #1 was saved.", False),
    ],
)
def test_is_problem_line(line: str, problem: bool) -> None:
    assert is_problem_line(line) is problem


def test_load_actions_say_what_force_and_start_ekos_change() -> None:
    plain = load_actions(Path("/n/x.esl"), force=False, start_ekos=False, bus="unix:path=/b")
    forced = load_actions(Path("/n/x.esl"), force=True, start_ekos=True, bus="unix:path=/b")
    assert "unix:path=/b" in plain[0]
    assert any("refuse" in a for a in plain) and not any("refuse" in a for a in forced)
    assert any("start its profile" in a for a in forced)
    assert plain.index(next(a for a in plain if a.startswith("remove every job"))) < plain.index(
        next(a for a in plain if a.startswith("load /n/x.esl"))
    )
