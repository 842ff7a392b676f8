"""Helpers shared by the end-to-end tests and their fixtures (see conftest.py)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars import sandbox
from ekos_occult.kstars.client import EkosClient
from ekos_occult.kstars.sandbox_layout import SandboxState
from ekos_occult.kstars.states import ParkStatus, SchedulerState
from ekos_occult.model import Site

START_TIMEOUT_S = 100.0  # below pytest's 120 s, so a slow start fails with KStars' log


@dataclass(frozen=True)
class Sandbox:
    """The running sandbox as tests see it."""

    state_dir: Path
    bus_address: str
    display: str
    site: Site
    state: SandboxState

    def client(self, timeout_s: float = 10.0) -> EkosClient:
        """A new (not yet connected) client: ``async with sandbox.client() as ekos``."""
        return EkosClient(self.bus_address, timeout_s=timeout_s)


def assert_all_gone(records: list[_procs.ProcessRecord]) -> None:
    """Fail naming every process (by pid) that is still alive."""
    alive = [f"{r.name} (pid {r.pid})" for r in records if _procs.is_alive(r)]
    assert not alive, f"sandbox processes left running: {', '.join(alive)}"


def start_sandbox(state_dir: Path, site: Site = sandbox.DEFAULT_SITE) -> SandboxState:
    """Start a sandbox or raise (never skip) with the reason and KStars' log."""
    state, already = asyncio.run(
        sandbox.start(state_dir, site, dict(os.environ), timeout_s=START_TIMEOUT_S)
    )
    assert not already, f"a sandbox was unexpectedly running in {state_dir}"
    return state


def restart_sandbox(state_dir: Path, site: Site) -> SandboxState:
    """Stop the sandbox in ``state_dir`` (checking nothing is left) and start it again there.

    Used after a test that changed KStars in a way later tests must not inherit: KStars 3.6.2
    moved to a location in another time zone and back, then running a scheduler job, crashes on
    the next ``org.kde.kstars.INDI.sendProperty`` (SIGSEGV in libindiclient: the device's
    driver info has no client manager; OBSERVED, see README "The sandbox").
    """
    current = sandbox.read_state(state_dir)
    assert current is not None, f"no sandbox in {state_dir}"
    stop_and_check(current)
    return start_sandbox(state_dir, site)


def stop_and_check(state: SandboxState) -> None:
    """Stop the sandbox and assert that none of its processes is left."""
    everything = [
        *state.roots,
        *state.children,
        *_procs.sandbox_members(state.roots, state.bus_address),
    ]
    sandbox.stop(state.state_dir)
    assert_all_gone(everything)
    assert not (state.state_dir / "run").exists(), "the sandbox left its runtime dir/socket"


async def restore_ekos(ekos: EkosClient, camera: str, was_parked: bool) -> None:
    """Scheduler stopped and empty, capture aborted, stream/recording off, park as found."""
    if await ekos.scheduler_status() != SchedulerState.IDLE:
        await ekos.stop_scheduler()
        for _ in range(100):
            if await ekos.scheduler_status() == SchedulerState.IDLE:
                break
            await asyncio.sleep(0.1)
    await ekos.remove_all_jobs()
    await ekos.abort_capture()
    for prop, element in (("RECORD_STREAM", "RECORD_OFF"), ("CCD_VIDEO_STREAM", "STREAM_OFF")):
        if not await ekos.get_switch(camera, prop, element):
            await ekos.set_switch(camera, prop, element, True)
            await ekos.send_property(camera, prop)
    park = await ekos.park_status()
    if not was_parked and park in (ParkStatus.PARKED, ParkStatus.PARKING):
        await ekos.unpark_mount()


async def ensure_ekos_up(sb: Sandbox, timeout_s: float = 60.0) -> None:
    """Restart Ekos (profile, devices) if an earlier test stopped it; fail if it won't come up."""
    from ekos_occult.kstars.states import CommunicationStatus

    async with sb.client() as ekos:
        if (
            await ekos.is_ekos_open()
            and await ekos.indi_status() == CommunicationStatus.SUCCESS
            and len(await ekos.devices()) >= 3
        ):
            return
        await ekos.open_ekos_window()
        await ekos.set_profile(sb.state.profile)
        await ekos.start_ekos()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not (
            await ekos.indi_status() == CommunicationStatus.SUCCESS
            and len(await ekos.devices()) >= 3
            and all([await ekos.is_device_connected(d) for d in await ekos.devices()])
        ):
            assert loop.time() < deadline, "Ekos did not come back up in the sandbox"
            await asyncio.sleep(0.5)
