"""Bringing Ekos up in a started sandbox KStars: on a state dir's first start, KStars' user
database made with two profiles (so Ekos never runs its Profile Wizard); then wait for KStars on
the bus, open Ekos, start the profile, wait until the INDI devices are connected, set the site,
show the Ekos window."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from ekos_occult.errors import SandboxError
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars import sandbox_gui as _gui
from ekos_occult.kstars import sandbox_profile as _profile
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sandbox_layout import Layout, SandboxState

if TYPE_CHECKING:
    from ekos_occult.kstars.client import EkosClient

__all__ = [
    "bring_up_ekos",
    "prepare_user_db",
]


async def bring_up_ekos(
    layout: Layout, state: SandboxState, timeout_s: float, say: Callable[[str], None]
) -> tuple[list[str], float]:
    """Wait for KStars, open Ekos, start the profile, wait for the devices, set the location,
    show the Ekos window (its first-start Profile Wizard closed, see :mod:`sandbox_gui`).

    Returns:
        The INDI device names (all connected), and the UTC offset KStars chose for the site.

    Raises:
        SandboxError: KStars died, or a step did not complete within ``timeout_s`` overall.
        EkosError: a D-Bus call failed.
    """
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.states import CommunicationStatus

    assert state.kstars is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with EkosClient(state.bus_address, timeout_s=15.0) as ekos:
        await _wait_until_started(ekos, state.kstars, loop.time() + timeout_s)
        await _profile.avoid_profile_wizard(layout, 20.0, state.profile)
        await ekos.open_ekos_window(timeout_s=max(5.0, deadline - loop.time()))
        say("Ekos is open; starting the profile.")
        await ekos.set_profile(state.profile)
        await ekos.start_ekos()
        restarts = 0
        while True:
            devices = await ekos.devices()
            ready = (
                await ekos.indi_status() == CommunicationStatus.SUCCESS
                and len(devices) >= 3
                and all([await ekos.is_device_connected(d) for d in devices])
                and await ekos.settle_status() == CommunicationStatus.SUCCESS
            )
            if ready:
                break
            if await ekos.ekos_status() == CommunicationStatus.ERROR and restarts < 3:
                # Under load Ekos can fail to reach its own new indiserver: start it again.
                restarts += 1
                say(f"Ekos failed to start its devices; retrying ({restarts}/3).")
                await ekos.stop_ekos()
                await asyncio.sleep(1.0)
                await ekos.start_ekos()
            _check_alive(state.kstars, loop.time() > deadline, "connect the INDI devices")
            await asyncio.sleep(0.5)
        say(f"Devices connected: {', '.join(devices)}.")
        await ekos.set_gps_location(
            state.site.lat_deg, state.site.lon_deg, state.site.elevation_m, 0.0
        )
        loc = await ekos.location()
        site = state.site
        if abs(loc.lat_deg - site.lat_deg) > 1e-6 or abs(loc.lon_deg - site.lon_deg) > 1e-6:
            raise SandboxError(f"KStars kept location {loc} instead of the site {state.site}.")
        # Show the Ekos window for a person to look at (screenshot, VNC): its first show runs
        # the modal Profile Wizard, which keeps the window unmapped until it is closed.
        if await _gui.show_ekos(ekos.toggle_ekos_window, state.display, 30.0):
            say("Closed Ekos' first-start Profile Wizard.")
        # Read the offset again: KStars applies the site's daylight-time rule a moment after
        # the location is set (Sydney in November: UTC+10 at once, +11 soon after, OBSERVED).
        loc = await ekos.location()
    return devices, loc.tz_hours


async def prepare_user_db(layout: Layout, state: SandboxState, timeout_s: float) -> None:
    """First start in a state directory: let KStars create its user database, then give it
    the second profile (see :mod:`sandbox_profile`). The caller then stops this KStars.

    Ekos builds its window, and reads its profile list, while KStars starts; with one profile
    its first show runs the modal Profile Wizard. With the database made before the real
    start, Ekos finds two profiles and never runs the wizard.

    Raises:
        SandboxError: KStars died or did not finish starting within ``timeout_s``.
    """
    from ekos_occult.kstars.client import EkosClient

    assert state.kstars is not None
    loop = asyncio.get_running_loop()
    async with EkosClient(state.bus_address, timeout_s=15.0) as ekos:
        await _wait_until_started(ekos, state.kstars, loop.time() + timeout_s)
    await _profile.avoid_profile_wizard(layout, 20.0, state.profile)
    if not layout.userdb.exists():
        raise SandboxError(f"KStars did not create its user database {layout.userdb}.")


async def _wait_until_started(ekos: EkosClient, kstars: ProcessRecord, deadline: float) -> None:
    """Wait until KStars is on the bus and has built its main window (and user database)."""
    loop = asyncio.get_running_loop()
    while not await ekos.is_running():
        _check_alive(kstars, loop.time() > deadline, "appear on the bus")
        await asyncio.sleep(0.25)
    # Touch KStars' user database only once KStars has finished creating it.
    while not await ekos.is_main_window_ready():
        _check_alive(kstars, loop.time() > deadline, "finish starting")
        await asyncio.sleep(0.25)


def _check_alive(kstars: ProcessRecord, late: bool, what: str) -> None:
    if not _procs.is_alive(kstars):
        raise SandboxError(f"KStars (pid {kstars.pid}) exited before it could {what}.")
    if late:
        raise SandboxError(f"KStars did not {what} in time.")
