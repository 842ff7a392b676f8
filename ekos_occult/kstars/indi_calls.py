"""Calls to KStars' INDI interface (``/KStars/INDI``): devices and their properties.

Values are set on KStars' side with ``set_*`` and sent to the driver with
:meth:`IndiCalls.send_property`, which talks to Ekos' INDI server directly
(:mod:`ekos_occult.kstars.indiwire`) when it can find it (:meth:`IndiCalls.indi_server`):
KStars' own ``sendProperty`` can crash KStars (3.6.2 to 3.8), so it is used only when the
server cannot be found, with a warning (``docs/kstars-facts.md`` §8).
"""

from __future__ import annotations

import asyncio
import logging
import math

from ekos_occult.errors import EkosCommandFailed, EkosIncompatible, EkosUnavailable
from ekos_occult.kstars import indiwire, procs
from ekos_occult.kstars.bus import EKOS_OBJ, INDI_OBJ, KSTARS_SERVICE, KStarsBus, require
from ekos_occult.kstars.indiwire import IndiServer
from ekos_occult.kstars.states import PropertyState

log = logging.getLogger(__name__)
_DBUS = ("/org/freedesktop/DBus", "org.freedesktop.DBus")
_CRASH_WARNING = (
    "Ekos' INDI server was not found: sending {device} {prop} through KStars' "
    "INDI.sendProperty, which can crash KStars (a null client manager, 3.6.2 to 3.8)."
)
__all__ = ["IndiCalls"]


class IndiCalls(KStarsBus):
    """INDI devices as KStars knows them: list, connection, read, set and send properties."""

    async def devices(self) -> list[str]:
        """The INDI device names KStars knows."""
        (names,) = await self.call(INDI_OBJ, "getDevices")
        return [str(n) for n in names]

    async def device_properties(self, device: str) -> list[str]:
        """A device's properties as ``"device.PROPERTY.ELEMENT"`` strings."""
        (names,) = await self.call(INDI_OBJ, "getProperties", device)
        return [str(n) for n in names]

    async def is_device_connected(self, device: str) -> bool:
        """Whether an INDI device is connected (its ``CONNECTION.CONNECT`` switch is On)."""
        return await self.get_switch(device, "CONNECTION", "CONNECT")

    async def property_state(self, device: str, prop: str) -> PropertyState:
        """The state light of a property; ``INVALID`` also for an unknown device/property."""
        (text,) = await self.call(INDI_OBJ, "getPropertyState", device, prop)
        try:
            return PropertyState(str(text).lower())
        except ValueError:
            return PropertyState.INVALID

    async def get_number(self, device: str, prop: str, element: str) -> float:
        """An INDI number. Raises EkosCommandFailed when the element does not exist."""
        (value,) = await self.call(INDI_OBJ, "getNumber", device, prop, element)
        if isinstance(value, float) and math.isnan(value):
            raise EkosCommandFailed(f"INDI number {device} {prop}.{element} does not exist.")
        return float(value)

    async def get_text(self, device: str, prop: str, element: str) -> str:
        """An INDI text element. Raises EkosCommandFailed when it does not exist.

        KStars answers the word "Invalid" for an unknown device, property or element.
        """
        (value,) = await self.call(INDI_OBJ, "getText", device, prop, element)
        if value == "Invalid":
            raise EkosCommandFailed(f"INDI text {device} {prop}.{element} does not exist.")
        return str(value)

    async def get_light(self, device: str, prop: str, element: str) -> PropertyState:
        """An INDI light's state (``INVALID`` for an unknown light)."""
        (text,) = await self.call(INDI_OBJ, "getLight", device, prop, element)
        try:
            return PropertyState(str(text).lower())
        except ValueError:
            return PropertyState.INVALID

    async def get_switch(self, device: str, prop: str, element: str) -> bool:
        """An INDI switch: True when On. Raises EkosCommandFailed for an unknown switch."""
        (value,) = await self.call(INDI_OBJ, "getSwitch", device, prop, element)
        if value not in ("On", "Off"):
            raise EkosCommandFailed(
                f"INDI switch {device} {prop}.{element} does not exist (KStars said {value!r})."
            )
        return bool(value == "On")

    async def set_number(self, device: str, prop: str, element: str, value: float) -> None:
        """Set an INDI number on KStars' side; :meth:`send_property` sends it to the driver."""
        (ok,) = await self.call(INDI_OBJ, "setNumber", device, prop, element, float(value))
        require(ok, f"Cannot set INDI number {device} {prop}.{element}")

    async def set_text(self, device: str, prop: str, element: str, value: str) -> None:
        """Set an INDI text on KStars' side; :meth:`send_property` sends it to the driver."""
        (ok,) = await self.call(INDI_OBJ, "setText", device, prop, element, value)
        require(ok, f"Cannot set INDI text {device} {prop}.{element}")

    async def set_switch(self, device: str, prop: str, element: str, on: bool) -> None:
        """Set an INDI switch on KStars' side; :meth:`send_property` sends it to the driver."""
        (ok,) = await self.call(INDI_OBJ, "setSwitch", device, prop, element, "On" if on else "Off")
        require(ok, f"Cannot set INDI switch {device} {prop}.{element}")

    async def send_property(self, device: str, prop: str) -> None:
        """Send a property (after ``set_*``) to the INDI driver.

        The values KStars holds are sent to Ekos' INDI server directly (local, or on another
        host in Ekos' remote mode; :meth:`indi_server`). Only when that server cannot be found
        does KStars send it, with a warning logged once: its ``sendProperty`` can crash KStars.
        """
        server = await self.indi_server()
        if server is None:
            if not self._probes.get("warned sendProperty"):
                self._probes["warned sendProperty"] = True
                log.warning(_CRASH_WARNING.format(device=device, prop=prop))
            (ok,) = await self.call(INDI_OBJ, "sendProperty", device, prop)
            require(ok, f"Cannot send INDI property {device} {prop}")
            return
        kind, values = await self._property_values(device, prop)
        message = indiwire.new_vector_xml(device, prop, kind, values)
        await indiwire.send_xml(server.host, server.port, message, self.timeout_s)

    async def indi_server(self, profile: str | None = None) -> IndiServer | None:
        """Where Ekos' INDI server listens (cached once found), without English log lines.

        In order: the Ekos profile's JSON (KStars 3.8 ``Ekos.getProfile``; remote mode names
        the host and port), the ``indiserver -p PORT`` that KStars started (its child process,
        a KStars on this machine), the profile's host and port in KStars' user database
        (remote mode, any version; the database of the KStars process on the bus), the "INDI
        services started on port" line of an untranslated Ekos log.

        Args:
            profile: the Ekos profile to ask about (3.8); None skips that step.
        """
        if self._indi_server is None:
            self._indi_server = await self._find_indi_server(profile)
        return self._indi_server

    async def _find_indi_server(self, profile: str | None) -> IndiServer | None:
        if profile:
            try:
                (text,) = await self.call(EKOS_OBJ, "getProfile", profile)
                found = indiwire.server_from_profile(str(text), f"Ekos.getProfile({profile!r})")
                if found is not None:
                    return found
            except (EkosIncompatible, EkosCommandFailed, EkosUnavailable):
                pass  # before 3.8, or Ekos not started
        try:
            (pid,) = await self.call(
                _DBUS, "GetConnectionUnixProcessID", KSTARS_SERVICE, dest=_DBUS[1]
            )
        except EkosCommandFailed:
            pid = None
        if pid is not None:
            for argv in await asyncio.to_thread(procs.children_cmdlines, int(pid)):
                port = indiwire.port_from_cmdline(argv)
                if port is not None:
                    how = f"KStars' child process {' '.join(argv[:1])} -p {port}"
                    return IndiServer("127.0.0.1", port, how)
            # No indiserver of its own: Ekos may run the profile in remote mode (any version).
            data = await asyncio.to_thread(procs.data_home_of, int(pid))
            if profile and data is not None:
                db = data / "kstars" / "userdb.sqlite"
                found = await asyncio.to_thread(indiwire.server_from_userdb, db, profile)
                if found is not None:
                    return found
        try:
            lines = [str(s) for s in await self.get_property(EKOS_OBJ, "logText")]
        except (EkosUnavailable, EkosCommandFailed):
            return None
        port = indiwire.server_port_from_log(lines)
        return None if port is None else IndiServer("127.0.0.1", port, "Ekos' log")

    async def _property_values(self, device: str, prop: str) -> tuple[str, list[tuple[str, str]]]:
        """The property's kind and its elements' values as KStars holds them."""
        prefix = f"{device}.{prop}."
        names = [
            n[len(prefix) :] for n in await self.device_properties(device) if n.startswith(prefix)
        ]
        if not names:
            raise EkosCommandFailed(f"Cannot send INDI property {device} {prop}: no such property.")
        (first,) = await self.call(INDI_OBJ, "getSwitch", device, prop, names[0])
        if str(first) in ("On", "Off"):
            states = [await self.get_switch(device, prop, n) for n in names]
            return "switch", [
                (n, "On" if on else "Off") for n, on in zip(names, states, strict=True)
            ]
        (number,) = await self.call(INDI_OBJ, "getNumber", device, prop, names[0])
        if not math.isnan(float(number)):
            nums = [await self.get_number(device, prop, n) for n in names]
            return "number", [(n, repr(float(v))) for n, v in zip(names, nums, strict=True)]
        return "text", [(n, await self.get_text(device, prop, n)) for n in names]
