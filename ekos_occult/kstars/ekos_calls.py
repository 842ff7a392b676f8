"""Calls to the Ekos manager (``/KStars/Ekos``): its window, profiles, start/stop and log."""

from __future__ import annotations

import asyncio

from ekos_occult.errors import EkosCommandFailed, EkosTimeout, EkosUnavailable
from ekos_occult.kstars.bus import (
    EKOS_ACTION_OBJ,
    EKOS_OBJ,
    SHOW_EKOS_ACTION_OBJ,
    KStarsBus,
    require,
)
from ekos_occult.kstars.states import CommunicationStatus, state_from_code

__all__ = ["EkosCalls"]


class EkosCalls(KStarsBus):
    """The Ekos manager: is it open, start a profile, are the devices connected, its log."""

    async def is_ekos_open(self) -> bool:
        """Whether the Ekos window (and with it the ``/KStars/Ekos`` objects) exists."""
        await self.require_kstars()
        try:
            await self.get_property(EKOS_OBJ, "ekosStatus")
        except EkosUnavailable:
            return False
        return True

    async def is_main_window_ready(self) -> bool:
        """Whether KStars finished starting (its window actions, Ekos' among them, exist).

        KStars owns its bus name long before it has loaded its catalogues and user database.
        """
        await self.require_kstars()
        try:
            (xml,) = await self.call(
                (EKOS_ACTION_OBJ[0], "org.freedesktop.DBus.Introspectable"), "Introspect"
            )
        except EkosCommandFailed:
            return False  # UnknownObject: the window is not built yet
        return EKOS_ACTION_OBJ[1] in str(xml)

    async def open_ekos_window(self, timeout_s: float = 30.0) -> None:
        """Create the Ekos window (KStars' "ekos" action) and wait for its D-Bus objects.

        The action's reply may never come (a dialog can hold it), so it is sent without
        waiting for one; the objects appearing is what counts.

        Raises:
            EkosTimeout: Ekos did not appear within ``timeout_s``.
        """
        if await self.is_ekos_open():
            return
        await self.call(EKOS_ACTION_OBJ, "trigger", reply=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await self.is_ekos_open():
            if loop.time() > deadline:
                raise EkosTimeout(f"The Ekos window did not appear within {timeout_s:g} s.")
            await asyncio.sleep(0.25)

    async def toggle_ekos_window(self) -> None:
        """Trigger KStars' "show_ekos" action: shows the Ekos window when it is hidden, and hides
        it when it is shown and active (so the caller checks first, on the display).

        Sent without waiting for a reply: on a first show Ekos 3.6.2 runs its modal Profile
        Wizard inside the show, and the reply comes only once the wizard is closed (OBSERVED).
        The action's "checked" state is no guide: it stayed false with the window shown after
        the wizard (OBSERVED).
        """
        await self.call(SHOW_EKOS_ACTION_OBJ, "trigger", reply=False)

    async def ekos_status(self) -> CommunicationStatus:
        """Whether Ekos has started its profile (idle, pending, success, error)."""
        return state_from_code(
            CommunicationStatus, await self.get_property(EKOS_OBJ, "ekosStatus"), self.version
        )

    async def indi_status(self) -> CommunicationStatus:
        """Whether Ekos' INDI devices are connected (idle, pending, success, error)."""
        return state_from_code(
            CommunicationStatus, await self.get_property(EKOS_OBJ, "indiStatus"), self.version
        )

    async def settle_status(self) -> CommunicationStatus:
        """Whether INDI property traffic has settled (success after a quiet second)."""
        return state_from_code(
            CommunicationStatus,
            int(await self.get_property(EKOS_OBJ, "settleStatus")),
            self.version,
        )

    async def profiles(self) -> list[str]:
        """The names of the Ekos equipment profiles."""
        (names,) = await self.call(EKOS_OBJ, "getProfiles")
        return [str(n) for n in names]

    async def set_profile(self, name: str) -> None:
        """Select the Ekos profile to start.

        Raises:
            EkosCommandFailed: there is no profile of that name.
        """
        (ok,) = await self.call(EKOS_OBJ, "setProfile", name)
        require(ok, f"Ekos has no profile {name!r}")

    async def start_ekos(self) -> None:
        """Start Ekos with the selected profile (INDI server, drivers, connection)."""
        await self.call(EKOS_OBJ, "start")

    async def stop_ekos(self) -> None:
        """Stop Ekos: disconnect the devices and stop the INDI server."""
        await self.call(EKOS_OBJ, "stop")

    async def ekos_log(self) -> list[str]:
        """Ekos' log lines, newest first."""
        return [str(s) for s in await self.get_property(EKOS_OBJ, "logText")]
