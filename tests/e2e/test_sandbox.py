"""The sandbox and the D-Bus adapter against the real headless KStars 3.6 with INDI simulators."""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path

import pytest
from e2e_helpers import Sandbox, start_sandbox, stop_and_check

from ekos_occult.cli import main
from ekos_occult.errors import EkosCommandFailed, EkosUnavailable, SandboxError
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars import sandbox as sandbox_mod
from ekos_occult.kstars.client import EkosClient, EkosSignal
from ekos_occult.kstars.states import (
    CaptureState,
    CommunicationStatus,
    PropertyState,
    SchedulerState,
)
from ekos_occult.model import Site

SIMULATORS = {"Telescope Simulator", "CCD Simulator", "Focuser Simulator"}
CCD = "CCD Simulator"


def _short_tmp(tmp_path: Path) -> Path:
    # A unix socket path must stay short; pytest's tmp_path is fine but keep it explicit.
    assert len(str(tmp_path)) < 80
    return tmp_path


@pytest.mark.timeout(300)
def test_start_devices_stop_leaves_nothing(sandbox_session: Sandbox, tmp_path: Path) -> None:
    """start → three simulators connected (INDI.getDevices) → stop → no process left (by pid).

    One sandbox per machine (INDI's fixed local socket): the session's sandbox is stopped for
    this test, a second start is refused while it runs, and it is started again afterwards.
    """
    site = Site(-33.8688, 151.2093, 58.0)
    with pytest.raises(SandboxError, match="only one can run at a time"):
        asyncio.run(sandbox_mod.start(tmp_path / "second", site, dict(os.environ)))
    session = sandbox_mod.read_state(sandbox_session.state_dir)
    assert session is not None
    stop_and_check(session)
    try:
        _own_sandbox_start_stop(tmp_path, site)
    finally:
        start_sandbox(sandbox_session.state_dir, sandbox_session.site)


def _own_sandbox_start_stop(tmp_path: Path, site: Site) -> None:
    state = start_sandbox(_short_tmp(tmp_path) / "own", site)
    try:
        assert state.is_running()
        # Sydney: standard UTC+10, daylight time UTC+11 (October to April). KStars applies the
        # DST rule itself (seen both before and after it did, in November): the sandbox must
        # report the offset KStars uses now (checked against KStars below).
        assert state.tz_hours in (10.0, 11.0)
        # The INDI server (under whatever name its wrapper gives it) and the three drivers.
        drivers = [r for r in state.children if r.name.startswith("indi_simulator")]
        assert len(drivers) == 3 and len(state.children) >= 4, state.children

        async def check() -> None:
            async with EkosClient(state.bus_address) as ekos:
                devices = await ekos.devices()
                assert set(devices) == SIMULATORS
                for d in devices:
                    assert await ekos.is_device_connected(d), d
                loc = await ekos.location()
                assert (loc.lat_deg, loc.lon_deg) == pytest.approx((site.lat_deg, site.lon_deg))
                # KStars 3.6.2 picks the place's standard time zone itself (Sydney: UTC+10).
            assert loc.tz0_hours == 10.0
            assert loc.tz_hours == state.tz_hours

        asyncio.run(check())
        # Idempotent: a second start reports the running sandbox.
        again, already = asyncio.run(sandbox_mod.start(state.state_dir, site, dict(os.environ)))
        assert already and again.kstars == state.kstars
    finally:
        stop_and_check(state)
    assert sandbox_mod.read_state(state.state_dir) is None

    async def gone() -> None:
        async with EkosClient(state.bus_address) as ekos:
            await ekos.is_running()

    with pytest.raises(EkosUnavailable):
        asyncio.run(gone())


def test_cli_status_and_resolve(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    """`sandbox status` lists the devices; commands find the sandbox by its state dir."""
    assert main(["sandbox", "status", "--state-dir", str(sandbox.state_dir)]) == 0
    out = capsys.readouterr().out
    for d in SIMULATORS:
        assert f"Device: {d} (connected)" in out
    assert "Ekos: success; INDI: success; scheduler: idle" in out
    assert sandbox.bus_address in out
    # An explicit state dir wins over the environment; --bus wins over everything.
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/elsewhere"}
    assert sandbox_mod.resolve_bus_address(None, env, sandbox.state_dir) == sandbox.bus_address
    assert sandbox_mod.resolve_bus_address("unix:path=/b", env, sandbox.state_dir) == "unix:path=/b"


def test_cli_start_print_env_reports_running(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sandbox", "start", "--print-env", "--state-dir", str(sandbox.state_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"export DBUS_SESSION_BUS_ADDRESS={shlex.quote(sandbox.bus_address)}",
        f"export DISPLAY={shlex.quote(sandbox.display)}",
    ]


def test_kstars_and_ekos_state(sandbox: Sandbox) -> None:
    async def check() -> None:
        async with sandbox.client() as ekos:
            assert await ekos.is_running()
            assert await ekos.kstars_version() == "3.6.2"
            loc = await ekos.location()
            assert loc.lat_deg == pytest.approx(sandbox.site.lat_deg)
            assert loc.lon_deg == pytest.approx(sandbox.site.lon_deg)
            assert await ekos.ekos_status() == CommunicationStatus.SUCCESS
            assert await ekos.indi_status() == CommunicationStatus.SUCCESS
            assert "Simulators" in await ekos.profiles()
            assert await ekos.is_ekos_open()
            assert await ekos.scheduler_status() == SchedulerState.IDLE
            assert await ekos.capture_status() == CaptureState.IDLE
            assert await ekos.camera_name() == CCD
            ra, dec = await ekos.mount_equatorial()
            assert 0.0 <= ra < 24.0 and -90.0 <= dec <= 90.0
            with pytest.raises(EkosCommandFailed, match="no profile"):
                await ekos.set_profile("No Such Profile")

    asyncio.run(check())


def test_indi_properties_get_set(sandbox: Sandbox, ekos_clean: None) -> None:
    """Numbers, texts and switches on the CCD simulator round-trip through KStars."""

    async def check() -> None:
        async with sandbox.client() as ekos:
            props = await ekos.device_properties(CCD)
            assert f"{CCD}.RECORD_STREAM.RECORD_OFF" in props
            assert await ekos.property_state(CCD, "RECORD_STREAM") == PropertyState.IDLE
            assert await ekos.property_state(CCD, "NO_SUCH_PROP") == PropertyState.INVALID
            old = await ekos.get_number(CCD, "STREAMING_EXPOSURE", "STREAMING_EXPOSURE_VALUE")
            new = 0.25 if old != 0.25 else 0.5
            await ekos.set_number(CCD, "STREAMING_EXPOSURE", "STREAMING_EXPOSURE_VALUE", new)
            await ekos.send_property(CCD, "STREAMING_EXPOSURE")
            for _ in range(50):
                got = await ekos.get_number(CCD, "STREAMING_EXPOSURE", "STREAMING_EXPOSURE_VALUE")
                if got == pytest.approx(new):
                    break
                await asyncio.sleep(0.1)
            assert got == pytest.approx(new)
            await ekos.set_text(CCD, "RECORD_FILE", "RECORD_FILE_NAME", "probe_T_")
            await ekos.send_property(CCD, "RECORD_FILE")
            await asyncio.sleep(0.3)
            assert await ekos.get_text(CCD, "RECORD_FILE", "RECORD_FILE_NAME") == "probe_T_"
            assert (
                await ekos.get_text(CCD, "ACTIVE_DEVICES", "ACTIVE_TELESCOPE")
                == "Telescope Simulator"
            )
            assert await ekos.get_switch(CCD, "RECORD_STREAM", "RECORD_OFF") is True
            with pytest.raises(EkosCommandFailed, match="does not exist"):
                await ekos.get_number(CCD, "NO_SUCH_PROP", "X")
            with pytest.raises(EkosCommandFailed, match="does not exist"):
                await ekos.get_switch(CCD, "NO_SUCH_PROP", "X")
            with pytest.raises(EkosCommandFailed, match="does not exist"):
                await ekos.get_text(CCD, "NO_SUCH_PROP", "X")
            with pytest.raises(EkosCommandFailed, match="Cannot set"):
                await ekos.set_number(CCD, "NO_SUCH_PROP", "X", 1.0)

    asyncio.run(check())


def test_stream_switch_and_cleanup_fixture(sandbox: Sandbox, ekos_clean: None) -> None:
    """Turning the video stream on is visible; ekos_clean turns it off afterwards."""

    async def check() -> None:
        async with sandbox.client() as ekos:
            await ekos.set_switch(CCD, "CCD_VIDEO_STREAM", "STREAM_ON", True)
            await ekos.send_property(CCD, "CCD_VIDEO_STREAM")
            for _ in range(50):
                if await ekos.get_switch(CCD, "CCD_VIDEO_STREAM", "STREAM_ON"):
                    break
                await asyncio.sleep(0.1)
            assert await ekos.get_switch(CCD, "CCD_VIDEO_STREAM", "STREAM_ON")

    asyncio.run(check())


def test_stream_is_off_again(sandbox: Sandbox) -> None:
    """Runs after the previous test: its ekos_clean left the stream off."""

    async def check() -> bool:
        async with sandbox.client() as ekos:
            return await ekos.get_switch(CCD, "CCD_VIDEO_STREAM", "STREAM_OFF")

    assert asyncio.run(check()) is True


def test_scheduler_signals_load_and_stop(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    """Loading a broken .esl gives false and a log line (signal); start/stop give statuses."""
    broken = tmp_path / "broken.esl"
    broken.write_text("<?xml version='1.0'?><SchedulerList version='1.5'><Job><Name>x</Job>")

    async def check() -> None:
        async with sandbox.client() as ekos:
            async with ekos.listen(EkosSignal.SCHEDULER_LOG, EkosSignal.SCHEDULER_STATUS) as ev:
                assert await ekos.load_schedule(broken) is False
                first = await ev.wait_for(lambda e: e.signal is EkosSignal.SCHEDULER_LOG, 10)
                assert isinstance(first.value, str) and first.value
                await ekos.start_scheduler()
                running = await ev.wait_for(lambda e: e.signal is EkosSignal.SCHEDULER_STATUS, 10)
                assert running.value in (SchedulerState.RUNNING, SchedulerState.STARTUP)
                await ekos.stop_scheduler()
                await ev.wait_for(lambda e: e.value == SchedulerState.IDLE, 15)
            log = await ekos.scheduler_log()
            assert log and isinstance(log[0], str)

    asyncio.run(check())


def test_missing_ekos_object_is_unavailable(sandbox: Sandbox) -> None:
    """A client on the right bus but without KStars' name says how to start KStars."""

    async def check() -> None:
        async with EkosClient(sandbox.bus_address) as ekos:
            assert await ekos.is_running()
        bogus = sandbox.state_dir / "nope" / "bus"
        with pytest.raises(EkosUnavailable, match="Cannot connect"):
            async with EkosClient(f"unix:path={bogus}") as ekos:
                await ekos.is_running()

    asyncio.run(check())
    assert _procs.is_alive(sandbox.state.kstars)  # type: ignore[arg-type]
