"""EkosClient against a fake KStars on a private dbus-daemon: faults real Ekos can't show on cue.

(A call that hangs, an Ekos that refuses, a name that vanishes and returns.) Everything the real
KStars does is tested in tests/e2e against the real thing.
"""

# ruff: noqa: UP037, F821, N802, N803  (dbus-next reads D-Bus types from string annotations)
from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_next.aio import MessageBus
from dbus_next.constants import PropertyAccess
from dbus_next.errors import DBusError
from dbus_next.service import ServiceInterface, dbus_property, method, signal
from privatebus import private_bus

from ekos_occult.errors import EkosCommandFailed, EkosTimeout, EkosUnavailable
from ekos_occult.kstars.client import EkosClient, EkosSignal
from ekos_occult.kstars.signatures import load_signatures, parse_introspection
from ekos_occult.kstars.states import CaptureState, SchedulerState, state_from_code

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def bus_address(tmp_path: Path) -> Iterator[str]:
    """A private dbus-daemon for one test."""
    with private_bus(tmp_path / "bus") as address:
        yield address


class FakeScheduler(ServiceInterface):
    """org.kde.kstars.Ekos.Scheduler with scripted behaviour."""

    def __init__(self) -> None:
        super().__init__("org.kde.kstars.Ekos.Scheduler")
        self.loaded: list[str] = []
        self.hang_s = 0.0

    @method()
    async def loadScheduler(self, fileURL: "s") -> "b":
        await asyncio.sleep(self.hang_s)
        self.loaded.append(fileURL)
        return fileURL.endswith(".esl")

    @method()
    def removeAllJobs(self):  # type: ignore[no-untyped-def]  # noqa: N802
        raise DBusError("org.kde.kstars.Error.Busy", "the scheduler is running")

    @dbus_property(access=PropertyAccess.READ)
    def status(self) -> "i":
        return 2

    @signal()
    def newStatus(self, status: "(i)") -> "(i)":
        return status

    @signal()
    def newLog(self, text: "s") -> "s":
        return text


async def _serve(address: str, sched: FakeScheduler) -> MessageBus:
    bus = await MessageBus(bus_address=address).connect()
    bus.export("/KStars/Ekos/Scheduler", sched)
    await bus.request_name("org.kde.kstars")
    return bus


def _close(bus: MessageBus) -> None:
    bus.disconnect()
    for name in ("_stream", "_sock"):
        getattr(bus, name).close()


def test_no_kstars_on_bus_is_unavailable_with_hint(bus_address: str) -> None:
    async def go() -> None:
        async with EkosClient(bus_address, timeout_s=2) as ekos:
            assert await ekos.is_running() is False
            with pytest.raises(EkosUnavailable, match="sandbox start"):
                await ekos.scheduler_status()

    asyncio.run(go())


def test_unreachable_bus_is_unavailable(tmp_path: Path) -> None:
    async def go() -> None:
        async with EkosClient(f"unix:path={tmp_path}/none", timeout_s=2) as ekos:
            await ekos.is_running()

    with pytest.raises(EkosUnavailable, match="Cannot connect"):
        asyncio.run(go())


def test_calls_map_results_errors_and_missing_objects(bus_address: str, tmp_path: Path) -> None:
    sched = FakeScheduler()

    async def go() -> None:
        server = await _serve(bus_address, sched)
        try:
            async with EkosClient(bus_address, timeout_s=2) as ekos:
                assert await ekos.scheduler_status() == SchedulerState.RUNNING
                assert await ekos.load_schedule(Path("rel/night.esl")) is True
                assert await ekos.load_schedule(tmp_path / "x.txt") is False
                with pytest.raises(EkosCommandFailed, match="the scheduler is running"):
                    await ekos.remove_all_jobs()
                # /KStars/Ekos/Capture is not exported: Ekos not started.
                with pytest.raises(EkosUnavailable, match="Capture module"):
                    await ekos.capture_status()
        finally:
            _close(server)

    asyncio.run(go())
    assert sched.loaded[0] == str(Path("rel/night.esl").absolute())


def test_hanging_call_times_out(bus_address: str) -> None:
    sched = FakeScheduler()
    sched.hang_s = 5.0

    async def go() -> None:
        server = await _serve(bus_address, sched)
        try:
            async with EkosClient(bus_address, timeout_s=0.3) as ekos:
                with pytest.raises(EkosTimeout, match="loadScheduler"):
                    await ekos.load_schedule(Path("/n.esl"))
        finally:
            _close(server)

    asyncio.run(go())


def test_signals_become_events_and_presence_is_watched(bus_address: str) -> None:
    sched = FakeScheduler()

    async def go() -> None:
        server = await _serve(bus_address, sched)
        async with EkosClient(bus_address, timeout_s=2) as ekos:
            async with ekos.listen(
                EkosSignal.SCHEDULER_STATUS, EkosSignal.SCHEDULER_LOG, EkosSignal.KSTARS_PRESENCE
            ) as events:
                sched.newStatus([0])
                sched.newLog("Scheduler is awake.")
                first = await events.next(2)
                second = await events.next(2)
                assert (first.signal, first.value) == (
                    EkosSignal.SCHEDULER_STATUS,
                    SchedulerState.IDLE,
                )
                assert (second.signal, second.value) == (
                    EkosSignal.SCHEDULER_LOG,
                    "Scheduler is awake.",
                )
                _close(server)  # KStars "crashes"
                gone = await events.wait_for(lambda e: e.signal is EkosSignal.KSTARS_PRESENCE, 3)
                assert gone.value is False
                with pytest.raises(EkosTimeout):
                    await events.next(0.05)

    asyncio.run(go())


def test_state_codes_map_by_name_and_unknown_is_not_an_error() -> None:
    assert state_from_code(SchedulerState, 2) is SchedulerState.RUNNING
    assert state_from_code(CaptureState, 19) is CaptureState.COMPLETE
    assert state_from_code(CaptureState, 99) is CaptureState.UNKNOWN
    assert state_from_code(SchedulerState, -1, "3.7") is SchedulerState.UNKNOWN


def test_signatures_come_from_vendored_xml() -> None:
    sigs = load_signatures()
    assert sigs.method("org.kde.kstars.INDI", "setNumber", 4) == "sssd"
    assert sigs.method("org.kde.kstars", "setGPSLocation", 4) == "dddd"
    with pytest.raises(KeyError):
        sigs.method("org.kde.kstars", "noSuchMethod", 0)
    # A method with an invalid type (KStars declares one `bool`) is skipped, not fatal.
    xml = (
        "<node><interface name='i'><method name='m'><arg direction='in' type='bool'/>"
        "</method><method name='n'><arg direction='in' type='s'/></method></interface></node>"
    )
    assert parse_introspection(xml) == {("i", "n", 1): "s"}


def test_module_imports_keep_dbus_next_inside_the_adapter() -> None:
    import ekos_occult.kstars.client as ekos_mod

    public = [getattr(ekos_mod, n) for n in ekos_mod.__all__]
    assert all("dbus_next" not in getattr(obj, "__module__", "") for obj in public)
    assert os.path.basename(ekos_mod.__file__ or "") == "client.py"


def test_indi_socket_check_reads_proc_net_unix() -> None:
    """Only a *listening* socket on INDI's fixed path blocks a new sandbox."""
    from ekos_occult.kstars.sandbox import is_indi_socket_taken

    head = "Num       RefCount Protocol Flags    Type St Inode Path\n"
    listening = "0000000081dd6fe1: 00000002 00000000 00010000 0001 01 195425 @/tmp/indiserver\n"
    accepted = "0000000081dd6fe2: 00000003 00000000 00000000 0001 03 195426 @/tmp/indiserver\n"
    other = "0000000081dd6fe3: 00000002 00000000 00010000 0001 01 195427 @/tmp/.X11-unix/X70\n"
    assert is_indi_socket_taken(head + accepted + listening)
    assert not is_indi_socket_taken(head + accepted + other)
    assert not is_indi_socket_taken(head)
