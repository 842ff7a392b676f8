"""The thin D-Bus adapter to KStars/Ekos: one typed async method, in our terms, per Ekos call.

This is the only module that imports :mod:`dbus_next`. Nothing of it leaks out: callers get
plain Python values, the state enums of :mod:`ekos_occult.kstars.states` and our own errors.
Calls are built from the introspection XML vendored in ``ekos_occult/dbus_xml`` (no runtime
proxy objects), every call has a timeout, and

- the KStars name missing from the bus raises :class:`~ekos_occult.errors.EkosUnavailable`,
- an Ekos object missing (Ekos not started) raises ``EkosUnavailable`` too,
- a call that does not answer in time raises :class:`~ekos_occult.errors.EkosTimeout`,
- any other D-Bus error, or a ``false`` answer, raises
  :class:`~ekos_occult.errors.EkosCommandFailed`.

Signals (scheduler log and status, capture, mount, KStars leaving or returning) are delivered as
:class:`EkosEvent` records through :meth:`EkosClient.subscribe` or :meth:`EkosClient.listen`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import MessageFlag, MessageType
from dbus_next.message import Message
from dbus_next.signature import Variant

from ekos_occult.errors import EkosCommandFailed, EkosTimeout, EkosUnavailable
from ekos_occult.kstars import indiwire
from ekos_occult.kstars.events import (
    EkosEvent,
    EkosSignal,
    EventStream,
    Subscription,
    event_from_signal,
    signal_route,
)
from ekos_occult.kstars.signatures import Signatures, load_signatures
from ekos_occult.kstars.states import (
    CaptureState,
    CommunicationStatus,
    MountStatus,
    ParkStatus,
    PropertyState,
    SchedulerState,
    state_from_code,
)

__all__ = [
    "EkosClient",
    "KStarsLocation",
    "EkosEvent",
    "EkosSignal",
    "EventStream",
    "Subscription",
    "KSTARS_SERVICE",
    "NOT_RUNNING_MESSAGE",
    "version_family",
]

KSTARS_SERVICE = "org.kde.kstars"
NOT_RUNNING_MESSAGE = (
    "KStars is not running on this session bus — start KStars, or `ekos-occult sandbox start`"
)
_EKOS_NOT_STARTED = (
    "the Ekos {module} module is not on the bus — open Ekos in KStars and start its profile "
    "(or `ekos-occult sandbox start`)"
)

_KSTARS = ("/KStars", "org.kde.kstars")
_EKOS = ("/KStars/Ekos", "org.kde.kstars.Ekos")
_SCHEDULER = ("/KStars/Ekos/Scheduler", "org.kde.kstars.Ekos.Scheduler")
_CAPTURE = ("/KStars/Ekos/Capture", "org.kde.kstars.Ekos.Capture")
_MOUNT = ("/KStars/Ekos/Mount", "org.kde.kstars.Ekos.Mount")
_INDI = ("/KStars/INDI", "org.kde.kstars.INDI")
_SIMCLOCK = ("/KStars/SimClock", "org.kde.kstars.SimClock")
_EKOS_ACTION = ("/kstars/MainWindow_1/actions/ekos", "org.qtproject.Qt.QAction")
_DBUS = ("/org/freedesktop/DBus", "org.freedesktop.DBus")
_PROPS = "org.freedesktop.DBus.Properties"
_MODULE_NAMES = {p[0]: p[0].rsplit("/", 1)[-1] for p in (_EKOS, _SCHEDULER, _CAPTURE, _MOUNT)}

_MISSING_OBJECT = {
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownMethod",
}
_NO_SERVICE = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}


@dataclass(frozen=True)
class KStarsLocation:
    """KStars' geographic location as it reports it (``org.kde.kstars.location``).

    Attributes:
        name: the city name, or ``"GPS Location"`` after :meth:`EkosClient.set_gps_location`.
        lat_deg, lon_deg: latitude and longitude (east positive) in degrees.
        tz_hours: the UTC offset KStars uses for its local time now (including DST).
        tz0_hours: the standard UTC offset of the location.
    """

    name: str
    lat_deg: float
    lon_deg: float
    tz_hours: float
    tz0_hours: float


def version_family(version: str) -> str:
    """Map a KStars version ("3.6.2", "3.7.5", "3.8.0") to an Ekos file-format family.

    Returns:
        ``"3.6"`` for 3.6.x and older, ``"3.7"`` for 3.7 and newer.
    """
    m = re.match(r"(\d+)\.(\d+)", version)
    if m is None:
        return "3.6"
    return "3.6" if (int(m.group(1)), int(m.group(2))) < (3, 7) else "3.7"


class EkosClient:
    """Async client of one KStars instance on one D-Bus bus.

    Nothing happens in the constructor; call :meth:`connect` (or use ``async with``) first.

    Args:
        bus_address: the D-Bus address (``unix:path=...``) of KStars' session bus.
        timeout_s: the longest any single call may take.
        version: KStars version family whose state numbering to use (``"3.6"``/``"3.7"``).
    """

    def __init__(self, bus_address: str, *, timeout_s: float = 10.0, version: str = "3.6") -> None:
        self.bus_address = bus_address
        self.timeout_s = timeout_s
        self.version = version
        self._bus: MessageBus | None = None
        self._sigs: Signatures | None = None
        self._matches: dict[str, int] = {}
        self._indi_port_cache: int | None = None

    # ----------------------------------------------------------------- connection
    async def connect(self) -> None:
        """Connect to the bus (not to KStars: that is checked on each call).

        Raises:
            EkosUnavailable: the bus itself cannot be reached.
            EkosTimeout: the bus did not answer in time.
        """
        if self._bus is not None:
            return
        self._sigs = load_signatures()
        self._indi_port_cache = None
        _check_socket_exists(self.bus_address)
        bus: MessageBus | None = None
        try:
            bus = MessageBus(bus_address=self.bus_address)  # dbus-next opens the socket here
            self._bus = await asyncio.wait_for(bus.connect(), self.timeout_s)
        except asyncio.TimeoutError as exc:
            _close_socket(bus)
            raise EkosTimeout(
                f"The D-Bus bus {self.bus_address} did not answer within {self.timeout_s:g} s."
            ) from exc
        except (OSError, ValueError, EOFError) as exc:
            _close_socket(bus)
            raise EkosUnavailable(_cannot_connect(self.bus_address, exc)) from exc

    async def close(self) -> None:
        """Disconnect from the bus. Safe to call twice."""
        bus, self._bus = self._bus, None
        self._matches.clear()
        if bus is not None:
            bus.disconnect()  # type: ignore[no-untyped-call]
            try:
                await asyncio.wait_for(
                    bus.wait_for_disconnect(),  # type: ignore[no-untyped-call]
                    self.timeout_s,
                )
            except (asyncio.TimeoutError, OSError, EOFError):
                pass  # the connection is gone either way
            _close_socket(bus)

    async def __aenter__(self) -> EkosClient:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------- KStars
    async def is_running(self) -> bool:
        """Whether KStars owns its name on the bus."""
        (owned,) = await self._call(_DBUS, "NameHasOwner", KSTARS_SERVICE, dest=_DBUS[1])
        return bool(owned)

    async def wait_until_running(self, timeout_s: float, poll_s: float = 0.5) -> None:
        """Wait for KStars to appear on the bus.

        Raises:
            EkosTimeout: KStars did not appear within ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await self.is_running():
            if loop.time() > deadline:
                raise EkosTimeout(f"KStars did not appear on the bus within {timeout_s:g} s.")
            await asyncio.sleep(poll_s)

    async def kstars_pid(self) -> int:
        """The process id of KStars (as the bus daemon knows it)."""
        await self._require_kstars()
        (pid,) = await self._call(
            _DBUS, "GetConnectionUnixProcessID", KSTARS_SERVICE, dest=_DBUS[1]
        )
        return int(pid)

    async def kstars_version(self) -> str | None:
        """The running KStars' version ("3.6.2"), or None when it cannot be told.

        KStars has no version call on D-Bus; this asks the bus for KStars' process id and runs
        that executable with ``--version``, so it works only for a KStars on this machine.
        """
        pid = await self.kstars_pid()
        try:
            exe = Path(f"/proc/{pid}/exe").resolve(strict=True)
            proc = await asyncio.create_subprocess_exec(
                str(exe),
                "--version",
                env={"QT_QPA_PLATFORM": "offscreen", "LC_ALL": "C"},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except (OSError, asyncio.TimeoutError):
            return None
        m = re.search(r"(\d+\.\d+\.\d+)", out.decode("utf-8", "replace"))
        return m.group(1) if m else None

    async def location(self) -> KStarsLocation:
        """KStars' geographic location.

        Raises:
            EkosCommandFailed: KStars answered something that is not the expected JSON.
        """
        (text,) = await self._call(_KSTARS, "location")
        try:
            data = json.loads(text)
            return KStarsLocation(
                name=str(data.get("name", "")),
                lat_deg=float(data["latitude"]),
                lon_deg=float(data["longitude"]),
                tz_hours=float(data.get("tz", 0.0)),
                tz0_hours=float(data.get("tz0", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EkosCommandFailed(f"KStars reported an unreadable location: {text!r}.") from exc

    async def set_gps_location(
        self, lat_deg: float, lon_deg: float, elevation_m: float, tz_hours: float = 0.0
    ) -> None:
        """Set KStars' geographic location (shown as "GPS Location").

        KStars 3.6.2 ignores ``tz_hours`` and gives the location the time zone of the place
        (OBSERVED: Greenwich 0, Sydney +10, Santiago -4); read it back with :meth:`location`.
        KStars' local time, in which scheduler StartAt times are read, follows that zone.

        Raises:
            EkosCommandFailed: KStars refused the location.
        """
        (ok,) = await self._call(_KSTARS, "setGPSLocation", lon_deg, lat_deg, elevation_m, tz_hours)
        _require(ok, f"KStars refused the location {lat_deg},{lon_deg},{elevation_m}")

    async def set_time_to_now(self) -> None:
        """Set KStars' simulation clock to the system time and keep it running."""
        await self._call(_KSTARS, "setTimeToNow")
        await self._call(_SIMCLOCK, "start")

    # ----------------------------------------------------------------- Ekos
    async def is_ekos_open(self) -> bool:
        """Whether the Ekos window (and with it the ``/KStars/Ekos`` objects) exists."""
        await self._require_kstars()
        try:
            await self._get(_EKOS, "ekosStatus")
        except EkosUnavailable:
            return False
        return True

    async def is_main_window_ready(self) -> bool:
        """Whether KStars finished starting (its window actions, Ekos' among them, exist).

        KStars owns its bus name long before it has loaded its catalogues and user database.
        """
        await self._require_kstars()
        try:
            (xml,) = await self._call(
                (_EKOS_ACTION[0], "org.freedesktop.DBus.Introspectable"), "Introspect"
            )
        except EkosCommandFailed:
            return False  # UnknownObject: the window is not built yet
        return _EKOS_ACTION[1] in str(xml)

    async def open_ekos_window(self, timeout_s: float = 30.0) -> None:
        """Create the Ekos window (KStars' "ekos" action) and wait for its D-Bus objects.

        The action's reply may never come (a dialog can hold it), so it is sent without
        waiting for one; the objects appearing is what counts.

        Raises:
            EkosTimeout: Ekos did not appear within ``timeout_s``.
        """
        if await self.is_ekos_open():
            return
        await self._call(_EKOS_ACTION, "trigger", reply=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await self.is_ekos_open():
            if loop.time() > deadline:
                raise EkosTimeout(f"The Ekos window did not appear within {timeout_s:g} s.")
            await asyncio.sleep(0.25)

    async def ekos_status(self) -> CommunicationStatus:
        """Whether Ekos has started its profile (idle, pending, success, error)."""
        return state_from_code(
            CommunicationStatus, await self._get(_EKOS, "ekosStatus"), self.version
        )

    async def indi_status(self) -> CommunicationStatus:
        """Whether Ekos' INDI devices are connected (idle, pending, success, error)."""
        return state_from_code(
            CommunicationStatus, await self._get(_EKOS, "indiStatus"), self.version
        )

    async def settle_status(self) -> CommunicationStatus:
        """Whether INDI property traffic has settled (success after a quiet second)."""
        return state_from_code(
            CommunicationStatus, int(await self._get(_EKOS, "settleStatus")), self.version
        )

    async def profiles(self) -> list[str]:
        """The names of the Ekos equipment profiles."""
        (names,) = await self._call(_EKOS, "getProfiles")
        return [str(n) for n in names]

    async def set_profile(self, name: str) -> None:
        """Select the Ekos profile to start.

        Raises:
            EkosCommandFailed: there is no profile of that name.
        """
        (ok,) = await self._call(_EKOS, "setProfile", name)
        _require(ok, f"Ekos has no profile {name!r}")

    async def start_ekos(self) -> None:
        """Start Ekos with the selected profile (INDI server, drivers, connection)."""
        await self._call(_EKOS, "start")

    async def stop_ekos(self) -> None:
        """Stop Ekos: disconnect the devices and stop the INDI server."""
        await self._call(_EKOS, "stop")

    async def ekos_log(self) -> list[str]:
        """Ekos' log lines, newest first."""
        return [str(s) for s in await self._get(_EKOS, "logText")]

    # ----------------------------------------------------------------- Scheduler
    async def scheduler_status(self) -> SchedulerState:
        """The scheduler's state."""
        return state_from_code(SchedulerState, await self._get(_SCHEDULER, "status"), self.version)

    async def load_schedule(self, path: Path) -> bool:
        """Load an ``.esl`` file into the scheduler (replacing its jobs).

        KStars answers true for almost any file and reports problems in its log only; false
        means the file was unreadable or not XML. Stop the scheduler first: loading while it
        runs corrupts the queue.

        Args:
            path: the file; made absolute here because KStars resolves it on its side.
        """
        (ok,) = await self._call(_SCHEDULER, "loadScheduler", str(Path(path).absolute()))
        return bool(ok)

    async def start_scheduler(self) -> None:
        """Start (or wake) the scheduler."""
        await self._call(_SCHEDULER, "start")

    async def stop_scheduler(self) -> None:
        """Stop the scheduler; pending jobs are marked aborted."""
        await self._call(_SCHEDULER, "stop")

    async def remove_all_jobs(self) -> None:
        """Remove every job from the scheduler queue."""
        await self._call(_SCHEDULER, "removeAllJobs")

    async def reset_all_jobs(self) -> None:
        """Reset every scheduler job to its initial state."""
        await self._call(_SCHEDULER, "resetAllJobs")

    async def scheduler_log(self) -> list[str]:
        """The scheduler's log lines, newest first (``yyyy-MM-ddThh:mm:ss text``)."""
        return [str(s) for s in await self._get(_SCHEDULER, "logText")]

    # ----------------------------------------------------------------- Capture
    async def capture_status(self) -> CaptureState:
        """The capture module's state."""
        return state_from_code(CaptureState, await self._get(_CAPTURE, "status"), self.version)

    async def camera_name(self) -> str:
        """The INDI name of the camera Ekos captures with ("" when none)."""
        return str(await self._get(_CAPTURE, "camera"))

    async def abort_capture(self) -> None:
        """Abort the capture in progress, if any."""
        await self._call(_CAPTURE, "abort")

    async def clear_capture_queue(self) -> None:
        """Remove every job from the capture module's sequence queue."""
        await self._call(_CAPTURE, "clearSequenceQueue")

    async def capture_log(self) -> list[str]:
        """The capture module's log lines, newest first."""
        return [str(s) for s in await self._get(_CAPTURE, "logText")]

    # ----------------------------------------------------------------- Mount
    async def mount_status(self) -> MountStatus:
        """The mount's state."""
        return state_from_code(MountStatus, await self._get(_MOUNT, "status"), self.version)

    async def park_status(self) -> ParkStatus:
        """The mount's park state."""
        return state_from_code(ParkStatus, await self._get(_MOUNT, "parkStatus"), self.version)

    async def park_mount(self) -> None:
        """Start parking the mount. Raises EkosCommandFailed when refused."""
        (ok,) = await self._call(_MOUNT, "park")
        _require(ok, "The mount refused to park")

    async def unpark_mount(self) -> None:
        """Start unparking the mount. Raises EkosCommandFailed when refused."""
        (ok,) = await self._call(_MOUNT, "unpark")
        _require(ok, "The mount refused to unpark")

    async def abort_mount(self) -> None:
        """Stop any mount motion. Raises EkosCommandFailed when refused."""
        (ok,) = await self._call(_MOUNT, "abort")
        _require(ok, "The mount refused to abort")

    async def slew_mount(self, ra_hours: float, dec_deg: float) -> None:
        """Slew to JNow coordinates (RA in hours, Dec in degrees) and track.

        Raises:
            EkosCommandFailed: the mount refused the slew.
        """
        (ok,) = await self._call(_MOUNT, "slew", ra_hours, dec_deg)
        _require(ok, f"The mount refused to slew to RA {ra_hours:.4f} h, Dec {dec_deg:.4f}°")

    async def mount_equatorial(self) -> tuple[float, float]:
        """Where the mount points: (RA hours, Dec degrees), JNow."""
        ra, dec = await self._get(_MOUNT, "equatorialCoords")
        return float(ra), float(dec)

    async def mount_horizontal(self) -> tuple[float, float]:
        """Where the mount points: (azimuth degrees, altitude degrees)."""
        az, alt = await self._get(_MOUNT, "horizontalCoords")
        return float(az), float(alt)

    # ----------------------------------------------------------------- INDI
    async def devices(self) -> list[str]:
        """The INDI device names KStars knows."""
        (names,) = await self._call(_INDI, "getDevices")
        return [str(n) for n in names]

    async def device_properties(self, device: str) -> list[str]:
        """A device's properties as ``"device.PROPERTY.ELEMENT"`` strings."""
        (names,) = await self._call(_INDI, "getProperties", device)
        return [str(n) for n in names]

    async def is_device_connected(self, device: str) -> bool:
        """Whether an INDI device is connected (its ``CONNECTION.CONNECT`` switch is On)."""
        return await self.get_switch(device, "CONNECTION", "CONNECT")

    async def property_state(self, device: str, prop: str) -> PropertyState:
        """The state light of a property; ``INVALID`` also for an unknown device/property."""
        (text,) = await self._call(_INDI, "getPropertyState", device, prop)
        try:
            return PropertyState(str(text).lower())
        except ValueError:
            return PropertyState.INVALID

    async def get_number(self, device: str, prop: str, element: str) -> float:
        """An INDI number. Raises EkosCommandFailed when the element does not exist."""
        (value,) = await self._call(_INDI, "getNumber", device, prop, element)
        if isinstance(value, float) and math.isnan(value):
            raise EkosCommandFailed(f"INDI number {device} {prop}.{element} does not exist.")
        return float(value)

    async def get_text(self, device: str, prop: str, element: str) -> str:
        """An INDI text element. Raises EkosCommandFailed when it does not exist.

        KStars answers the word "Invalid" for an unknown device, property or element.
        """
        (value,) = await self._call(_INDI, "getText", device, prop, element)
        if value == "Invalid":
            raise EkosCommandFailed(f"INDI text {device} {prop}.{element} does not exist.")
        return str(value)

    async def get_switch(self, device: str, prop: str, element: str) -> bool:
        """An INDI switch: True when On. Raises EkosCommandFailed for an unknown switch."""
        (value,) = await self._call(_INDI, "getSwitch", device, prop, element)
        if value not in ("On", "Off"):
            raise EkosCommandFailed(
                f"INDI switch {device} {prop}.{element} does not exist (KStars said {value!r})."
            )
        return bool(value == "On")

    async def set_number(self, device: str, prop: str, element: str, value: float) -> None:
        """Set an INDI number on KStars' side; :meth:`send_property` sends it to the driver."""
        (ok,) = await self._call(_INDI, "setNumber", device, prop, element, float(value))
        _require(ok, f"Cannot set INDI number {device} {prop}.{element}")

    async def set_text(self, device: str, prop: str, element: str, value: str) -> None:
        """Set an INDI text on KStars' side; :meth:`send_property` sends it to the driver."""
        (ok,) = await self._call(_INDI, "setText", device, prop, element, value)
        _require(ok, f"Cannot set INDI text {device} {prop}.{element}")

    async def set_switch(self, device: str, prop: str, element: str, on: bool) -> None:
        """Set an INDI switch on KStars' side; :meth:`send_property` sends it to the driver."""
        (ok,) = await self._call(_INDI, "setSwitch", device, prop, element, "On" if on else "Off")
        _require(ok, f"Cannot set INDI switch {device} {prop}.{element}")

    async def send_property(self, device: str, prop: str) -> None:
        """Send a property (after ``set_*``) to the INDI driver.

        When Ekos logged its local INDI server's port, the values KStars holds are sent to that
        server directly (:mod:`ekos_occult.kstars.indiwire`): KStars 3.6.2's own ``sendProperty``
        can crash KStars. Otherwise (a remote INDI server) KStars sends it.
        """
        port = await self._indi_port()
        if port is None:
            (ok,) = await self._call(_INDI, "sendProperty", device, prop)
            _require(ok, f"Cannot send INDI property {device} {prop}")
            return
        kind, values = await self._property_values(device, prop)
        message = indiwire.new_vector_xml(device, prop, kind, values)
        await indiwire.send_xml("127.0.0.1", port, message, self.timeout_s)

    async def _indi_port(self) -> int | None:
        if self._indi_port_cache is None:
            try:
                log = await self.ekos_log()
            except (EkosUnavailable, EkosCommandFailed):
                return None  # no Ekos object to ask: let KStars send it (and fail if it is gone)
            self._indi_port_cache = indiwire.server_port_from_log(log)
        return self._indi_port_cache

    async def _property_values(self, device: str, prop: str) -> tuple[str, list[tuple[str, str]]]:
        """The property's kind and its elements' values as KStars holds them."""
        prefix = f"{device}.{prop}."
        names = [
            n[len(prefix) :] for n in await self.device_properties(device) if n.startswith(prefix)
        ]
        if not names:
            raise EkosCommandFailed(f"Cannot send INDI property {device} {prop}: no such property.")
        (first,) = await self._call(_INDI, "getSwitch", device, prop, names[0])
        if str(first) in ("On", "Off"):
            states = [await self.get_switch(device, prop, n) for n in names]
            return "switch", [
                (n, "On" if on else "Off") for n, on in zip(names, states, strict=True)
            ]
        (number,) = await self._call(_INDI, "getNumber", device, prop, names[0])
        if not math.isnan(float(number)):
            nums = [await self.get_number(device, prop, n) for n in names]
            return "number", [(n, repr(float(v))) for n, v in zip(names, nums, strict=True)]
        return "text", [(n, await self.get_text(device, prop, n)) for n in names]

    # ----------------------------------------------------------------- signals
    async def subscribe(
        self, callback: Callable[[EkosEvent], None], *signals: EkosSignal
    ) -> Subscription:
        """Call ``callback`` with an :class:`EkosEvent` for each of ``signals`` KStars emits.

        Args:
            callback: a plain function, called in the event loop; keep it short.
            signals: which signals; none means all of them.

        Returns:
            A :class:`Subscription`; ``await sub.close()`` stops the calls.
        """
        bus = self._connected()
        wanted = {signal_route(s): s for s in (signals or tuple(EkosSignal))}

        def handler(msg: Message) -> None:
            if msg.message_type is not MessageType.SIGNAL:
                return
            sig = wanted.get((msg.path or "", msg.interface or "", msg.member or ""))
            if sig is None:
                return
            event = event_from_signal(sig, list(msg.body), self.version)
            if event is not None:
                callback(event)

        rules = [_match_rule(route) for route in wanted]
        for rule in rules:
            await self._add_match(rule)
        bus.add_message_handler(handler)

        async def unsubscribe() -> None:
            if self._bus is bus:
                bus.remove_message_handler(handler)
                for rule in rules:
                    await self._remove_match(rule)

        return Subscription(unsubscribe)

    @asynccontextmanager
    async def listen(self, *signals: EkosSignal) -> AsyncIterator[EventStream]:
        """``async with client.listen(EkosSignal.SCHEDULER_LOG) as events: ...``.

        Yields:
            An :class:`EventStream`: ``await events.next(timeout_s)`` or ``async for``.
        """
        stream = EventStream()
        sub = await self.subscribe(stream.put, *signals)
        try:
            yield stream
        finally:
            await sub.close()

    # ----------------------------------------------------------------- plumbing
    @property
    def is_connected(self) -> bool:
        """Whether the bus connection is up (False after the bus daemon went away)."""
        return self._bus is not None and bool(self._bus.connected)

    def _connected(self) -> MessageBus:
        if self._bus is None:
            raise EkosUnavailable("Not connected to D-Bus: call EkosClient.connect() first.")
        if not self._bus.connected:
            # dbus-next leaves calls on a dead connection unanswered: fail at once instead.
            raise EkosUnavailable(
                f"The D-Bus connection to {self.bus_address} was lost (the bus daemon stopped);"
                " reconnect when KStars' session is back."
            )
        return self._bus

    async def _require_kstars(self) -> None:
        if not await self.is_running():
            raise EkosUnavailable(NOT_RUNNING_MESSAGE)

    async def _add_match(self, rule: str) -> None:
        count = self._matches.get(rule, 0)
        if count == 0:
            await self._call(_DBUS, "AddMatch", rule, dest=_DBUS[1])
        self._matches[rule] = count + 1

    async def _remove_match(self, rule: str) -> None:
        count = self._matches.get(rule, 0) - 1
        if count <= 0:
            self._matches.pop(rule, None)
            await self._call(_DBUS, "RemoveMatch", rule, dest=_DBUS[1])
        else:
            self._matches[rule] = count

    async def _get(self, obj: tuple[str, str], prop: str) -> Any:
        (variant,) = await self._call((obj[0], _PROPS), "Get", obj[1], prop)
        return variant.value if isinstance(variant, Variant) else variant

    async def _call(
        self,
        obj: tuple[str, str],
        member: str,
        *args: Any,
        dest: str = KSTARS_SERVICE,
        reply: bool = True,
    ) -> list[Any]:
        """Call ``member`` on ``obj`` = (path, interface), with the timeout, mapping errors."""
        bus = self._connected()
        assert self._sigs is not None
        path, iface = obj
        msg = Message(
            destination=dest,
            path=path,
            interface=iface,
            member=member,
            signature=self._sigs.method(iface, member, len(args)),
            body=list(args),
        )
        if not reply:
            msg.flags |= MessageFlag.NO_REPLY_EXPECTED
        try:
            answer = await asyncio.wait_for(bus.call(msg), self.timeout_s)
        except asyncio.TimeoutError as exc:
            raise EkosTimeout(
                f"KStars did not answer {_describe(iface, member)} within {self.timeout_s:g} s."
            ) from exc
        except (OSError, EOFError) as exc:
            raise EkosUnavailable(f"The D-Bus connection to KStars was lost: {exc}.") from exc
        if answer is None:
            return []
        if answer.message_type is MessageType.ERROR:
            raise _error_from_reply(answer, path, iface, member)
        return list(answer.body)


def _cannot_connect(address: str, exc: BaseException) -> str:
    return (
        f"Cannot connect to the D-Bus bus {address!r}: {exc}. Is KStars' session bus "
        "address right (--bus, $DBUS_SESSION_BUS_ADDRESS), or is a sandbox running?"
    )


def _check_socket_exists(address: str) -> None:
    """Fail early for a missing unix socket (dbus-next would leak the socket object)."""
    m = re.match(r"unix:path=([^,;]+)", address)
    if m and not Path(m.group(1)).exists():
        raise EkosUnavailable(_cannot_connect(address, FileNotFoundError("no such socket")))


def _close_socket(bus: MessageBus | None) -> None:
    """Close the socket dbus-next leaves open after a disconnect (it only shuts it down)."""
    for name in ("_stream", "_sock"):
        obj = getattr(bus, name, None)
        close = getattr(obj, "close", None)
        if close is not None:
            try:
                close()
            except OSError:
                pass


def _describe(iface: str, member: str) -> str:
    return f"{iface}.{member}"


def _require(ok: object, what: str) -> None:
    if not ok:
        raise EkosCommandFailed(f"{what} (KStars answered false).")


def _match_rule(route: tuple[str, str, str]) -> str:
    path, iface, member = route
    if iface == "org.freedesktop.DBus":
        return (
            f"type='signal',sender='org.freedesktop.DBus',interface='{iface}',"
            f"member='{member}',arg0='{KSTARS_SERVICE}'"
        )
    return (
        f"type='signal',sender='{KSTARS_SERVICE}',path='{path}',interface='{iface}',"
        f"member='{member}'"
    )


def _error_from_reply(answer: Message, path: str, iface: str, member: str) -> Exception:
    name = answer.error_name or ""
    text = str(answer.body[0]) if answer.body else name
    if name in _NO_SERVICE:
        return EkosUnavailable(NOT_RUNNING_MESSAGE)
    if name in _MISSING_OBJECT and path in _MODULE_NAMES:
        return EkosUnavailable(_EKOS_NOT_STARTED.format(module=_MODULE_NAMES[path]))
    if name == "org.freedesktop.DBus.Error.NoReply":
        return EkosTimeout(f"KStars did not answer {_describe(iface, member)}: {text}")
    return EkosCommandFailed(f"KStars refused {_describe(iface, member)}: {text} ({name}).")
