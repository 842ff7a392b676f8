"""The one connection to KStars' D-Bus bus: connect, call with a timeout, map errors, signals.

This is the only module that imports :mod:`dbus_next`. The per-module call sets
(:mod:`~ekos_occult.kstars.kstars_calls`, :mod:`~ekos_occult.kstars.ekos_calls`,
:mod:`~ekos_occult.kstars.scheduler_calls`, :mod:`~ekos_occult.kstars.capture_calls`,
:mod:`~ekos_occult.kstars.mount_calls`, :mod:`~ekos_occult.kstars.indi_calls`) build on
:class:`KStarsBus` and are put together in :class:`~ekos_occult.kstars.client.EkosClient`.
Calls are built from the introspection XML vendored in ``ekos_occult/kstars/dbus_xml`` (no
runtime proxy objects), every call has a timeout, and

- the KStars name missing from the bus raises :class:`~ekos_occult.errors.EkosUnavailable`,
- an Ekos object missing (Ekos not started) raises ``EkosUnavailable`` too,
- a call that does not answer in time raises :class:`~ekos_occult.errors.EkosTimeout`,
- a method that does not exist with these arguments on an object and interface that do exist
  (a signature mismatch: another KStars version) raises
  :class:`~ekos_occult.errors.EkosIncompatible`, never "not on the bus",
- any other D-Bus error, or a ``false`` answer, raises
  :class:`~ekos_occult.errors.EkosCommandFailed`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from dbus_next.aio.message_bus import MessageBus
from dbus_next.constants import MessageFlag, MessageType
from dbus_next.message import Message
from dbus_next.signature import Variant

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.errors import EkosCommandFailed, EkosIncompatible, EkosTimeout, EkosUnavailable
from ekos_occult.kstars.events import (
    EkosEvent,
    EkosSignal,
    EventStream,
    Subscription,
    event_from_signal,
    signal_route,
)
from ekos_occult.kstars.indiwire import IndiServer
from ekos_occult.kstars.signatures import Signatures, load_signatures

__all__ = [
    "KStarsBus",
    "KSTARS_SERVICE",
    "NOT_RUNNING_MESSAGE",
    "require",
]

_B = TypeVar("_B", bound="KStarsBus")

KSTARS_SERVICE = "org.kde.kstars"
NOT_RUNNING = "KStars is not running on this bus"
START_KSTARS = "Start KStars (or `ekos-occult sandbox start`), or give --bus."
NOT_RUNNING_MESSAGE = f"{NOT_RUNNING}. {START_KSTARS}"
"""What every command says when KStars is not on the bus (the readiness ``kstars`` check's
detail and fix)."""
_EKOS_NOT_STARTED = (
    "the Ekos {module} module is not on the bus — open Ekos in KStars and start its profile "
    "(or `ekos-occult sandbox start`)"
)

KSTARS_OBJ = ("/KStars", "org.kde.kstars")
EKOS_OBJ = ("/KStars/Ekos", "org.kde.kstars.Ekos")
SCHEDULER_OBJ = ("/KStars/Ekos/Scheduler", "org.kde.kstars.Ekos.Scheduler")
CAPTURE_OBJ = ("/KStars/Ekos/Capture", "org.kde.kstars.Ekos.Capture")
MOUNT_OBJ = ("/KStars/Ekos/Mount", "org.kde.kstars.Ekos.Mount")
INDI_OBJ = ("/KStars/INDI", "org.kde.kstars.INDI")
EKOS_ACTION_OBJ = ("/kstars/MainWindow_1/actions/ekos", "org.qtproject.Qt.QAction")
SHOW_EKOS_ACTION_OBJ = ("/kstars/MainWindow_1/actions/show_ekos", "org.qtproject.Qt.QAction")
_DBUS = ("/org/freedesktop/DBus", "org.freedesktop.DBus")
_PROPS = "org.freedesktop.DBus.Properties"
_MODULE_NAMES = {
    p[0]: p[0].rsplit("/", 1)[-1] for p in (EKOS_OBJ, SCHEDULER_OBJ, CAPTURE_OBJ, MOUNT_OBJ)
}

_MISSING_OBJECT = {
    "org.freedesktop.DBus.Error.UnknownObject",
    "org.freedesktop.DBus.Error.UnknownInterface",
    "org.freedesktop.DBus.Error.UnknownMethod",
}
_UNKNOWN_METHOD = "org.freedesktop.DBus.Error.UnknownMethod"
_INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
_NO_SERVICE = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}


class KStarsBus:
    """The bus connection and the call core every Ekos call set shares.

    Nothing happens in the constructor; call :meth:`connect` (or use ``async with``) first.

    Args:
        bus_address: the D-Bus address (``unix:path=...``) of KStars' session bus.
        timeout_s: the longest any single call may take.
        version: the KStars file format (family) whose state numbering to use.
    """

    def __init__(
        self,
        bus_address: str,
        *,
        timeout_s: float = 10.0,
        version: KStarsFormat = KStarsFormat.V3_6,
    ) -> None:
        self.bus_address = bus_address
        self.timeout_s = timeout_s
        self.version = version
        self._bus: MessageBus | None = None
        self._sigs: Signatures | None = None
        self._matches: dict[str, int] = {}
        self._indi_server: IndiServer | None = None  # Ekos' INDI server, per connection
        self._probes: dict[str, bool] = {}  # feature probes, per connection

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
        self._indi_server = None
        self._probes = {}
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

    async def __aenter__(self: _B) -> _B:
        await self.connect()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def is_running(self) -> bool:
        """Whether KStars owns its name on the bus."""
        (owned,) = await self.call(_DBUS, "NameHasOwner", KSTARS_SERVICE, dest=_DBUS[1])
        return bool(owned)

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

    async def require_kstars(self) -> None:
        """Raise :class:`EkosUnavailable` unless KStars owns its name on the bus."""
        if not await self.is_running():
            raise EkosUnavailable(NOT_RUNNING_MESSAGE)

    async def _add_match(self, rule: str) -> None:
        count = self._matches.get(rule, 0)
        if count == 0:
            await self.call(_DBUS, "AddMatch", rule, dest=_DBUS[1])
        self._matches[rule] = count + 1

    async def _remove_match(self, rule: str) -> None:
        count = self._matches.get(rule, 0) - 1
        if count <= 0:
            self._matches.pop(rule, None)
            await self.call(_DBUS, "RemoveMatch", rule, dest=_DBUS[1])
        else:
            self._matches[rule] = count

    async def get_property(self, obj: tuple[str, str], prop: str) -> Any:
        """The value of the D-Bus property ``prop`` of ``obj`` = (path, interface)."""
        (variant,) = await self.call((obj[0], _PROPS), "Get", obj[1], prop)
        return variant.value if isinstance(variant, Variant) else variant

    async def call(
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
            if answer.error_name == _UNKNOWN_METHOD and dest == KSTARS_SERVICE:
                if iface != _INTROSPECTABLE and await self.has_interface(path, iface):
                    raise EkosIncompatible(_mismatch(iface, member, msg.signature, answer))
            raise _error_from_reply(answer, path, iface, member)
        return list(answer.body)

    async def introspect(self, path: str) -> str:
        """KStars' introspection XML of ``path`` ("" when it cannot be had)."""
        try:
            (xml,) = await self.call((path, _INTROSPECTABLE), "Introspect")
        except (EkosCommandFailed, EkosUnavailable, EkosIncompatible):
            return ""
        return str(xml)

    async def has_interface(self, path: str, iface: str) -> bool:
        """Whether KStars exports ``iface`` at ``path`` (Ekos started, module there)."""
        return f'name="{iface}"' in await self.introspect(path)

    async def method_arities(self, obj: tuple[str, str], member: str) -> set[int]:
        """The argument counts KStars accepts for ``member`` of ``obj`` (a feature probe)."""
        import xml.etree.ElementTree as ET

        text = await self.introspect(obj[0])
        if not text:
            return set()
        found = set()
        for iface in ET.fromstring(text).iter("interface"):
            if iface.get("name") != obj[1]:
                continue
            for m in iface.iter("method"):
                if m.get("name") == member:
                    found.add(sum(1 for a in m.iter("arg") if a.get("direction", "in") == "in"))
        return found

    async def has_property(self, obj: tuple[str, str], prop: str) -> bool:
        """Whether ``obj`` declares the property ``prop`` (a feature probe)."""
        import xml.etree.ElementTree as ET

        text = await self.introspect(obj[0])
        if not text:
            return False
        return any(
            iface.get("name") == obj[1]
            and any(p.get("name") == prop for p in iface.iter("property"))
            for iface in ET.fromstring(text).iter("interface")
        )


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


def _mismatch(iface: str, member: str, signature: str, answer: Message) -> str:
    text = str(answer.body[0]) if answer.body else ""
    return (
        f"KStars has {_describe(iface, member)}, but not with the arguments sent "
        f"(signature {signature!r}): its D-Bus interface is another KStars version's than "
        f"expected ({text} (org.freedesktop.DBus.Error.UnknownMethod)). Give --kstars-version, "
        "or report the KStars version."
    )


def _describe(iface: str, member: str) -> str:
    return f"{iface}.{member}"


def require(ok: object, what: str) -> None:
    """Raise :class:`EkosCommandFailed` ("``what`` (KStars answered false).") unless ``ok``."""
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
