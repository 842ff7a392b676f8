"""Ekos signals in our terms: which signals exist, the event records, and how to receive them.

Pure data and asyncio plumbing, no D-Bus: :mod:`ekos_occult.kstars.client` routes the raw signals
here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Union

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.errors import EkosTimeout
from ekos_occult.kstars.states import (
    AlignState,
    CaptureState,
    CommunicationStatus,
    MountStatus,
    ParkStatus,
    SchedulerState,
    state_from_code,
)

__all__ = [
    "EkosSignal",
    "EkosEvent",
    "EventValue",
    "Subscription",
    "EventStream",
    "signal_route",
    "event_from_signal",
]


class EkosSignal(str, Enum):
    """The KStars/Ekos signals we listen to."""

    SCHEDULER_STATUS = "scheduler_status"  # value: SchedulerState
    SCHEDULER_LOG = "scheduler_log"  # value: str
    EKOS_STATUS = "ekos_status"  # value: CommunicationStatus
    INDI_STATUS = "indi_status"  # value: CommunicationStatus
    EKOS_LOG = "ekos_log"  # value: str
    CAPTURE_STATUS = "capture_status"  # value: CaptureState
    CAPTURE_LOG = "capture_log"  # value: str
    CAPTURE_COMPLETE = "capture_complete"  # value: Mapping[str, object] (filename, exposure...)
    ALIGN_STATUS = "align_status"  # value: AlignState
    MOUNT_STATUS = "mount_status"  # value: MountStatus
    MOUNT_PARK_STATUS = "mount_park_status"  # value: ParkStatus
    KSTARS_PRESENCE = "kstars_presence"  # value: bool, True when KStars (re)appears on the bus


EventValue = Union[  # noqa: UP007 - a runtime alias must work on Python 3.10 without 604 unions
    SchedulerState,
    CaptureState,
    AlignState,
    MountStatus,
    ParkStatus,
    CommunicationStatus,
    str,
    bool,
    Mapping[str, object],
]


@dataclass(frozen=True)
class EkosEvent:
    """One signal from KStars, in our terms. ``value``'s type depends on ``signal``."""

    signal: EkosSignal
    value: EventValue


_S = EkosSignal
_ROUTES: dict[EkosSignal, tuple[str, str, str]] = {
    _S.SCHEDULER_STATUS: ("/KStars/Ekos/Scheduler", "org.kde.kstars.Ekos.Scheduler", "newStatus"),
    _S.SCHEDULER_LOG: ("/KStars/Ekos/Scheduler", "org.kde.kstars.Ekos.Scheduler", "newLog"),
    _S.EKOS_STATUS: ("/KStars/Ekos", "org.kde.kstars.Ekos", "ekosStatusChanged"),
    _S.INDI_STATUS: ("/KStars/Ekos", "org.kde.kstars.Ekos", "indiStatusChanged"),
    _S.EKOS_LOG: ("/KStars/Ekos", "org.kde.kstars.Ekos", "newLog"),
    _S.CAPTURE_STATUS: ("/KStars/Ekos/Capture", "org.kde.kstars.Ekos.Capture", "newStatus"),
    _S.CAPTURE_LOG: ("/KStars/Ekos/Capture", "org.kde.kstars.Ekos.Capture", "newLog"),
    _S.CAPTURE_COMPLETE: ("/KStars/Ekos/Capture", "org.kde.kstars.Ekos.Capture", "captureComplete"),
    _S.ALIGN_STATUS: ("/KStars/Ekos/Align", "org.kde.kstars.Ekos.Align", "newStatus"),
    _S.MOUNT_STATUS: ("/KStars/Ekos/Mount", "org.kde.kstars.Ekos.Mount", "newStatus"),
    _S.MOUNT_PARK_STATUS: ("/KStars/Ekos/Mount", "org.kde.kstars.Ekos.Mount", "newParkStatus"),
    _S.KSTARS_PRESENCE: ("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameOwnerChanged"),
}

_STATE_KIND: dict[EkosSignal, Any] = {
    _S.SCHEDULER_STATUS: SchedulerState,
    _S.EKOS_STATUS: CommunicationStatus,
    _S.INDI_STATUS: CommunicationStatus,
    _S.CAPTURE_STATUS: CaptureState,
    _S.ALIGN_STATUS: AlignState,
    _S.MOUNT_STATUS: MountStatus,
    _S.MOUNT_PARK_STATUS: ParkStatus,
}


def signal_route(signal: EkosSignal) -> tuple[str, str, str]:
    """(object path, interface, member) of a signal on the bus."""
    return _ROUTES[signal]


def _int_of(arg: Any) -> int:
    # Status signals are declared as the struct (i): the integer arrives wrapped in a list.
    while isinstance(arg, (list, tuple)):
        arg = arg[0]
    return int(arg)


def _plain(value: Any) -> Any:
    inner = getattr(value, "value", value)  # unwrap a D-Bus variant without naming its type
    if isinstance(inner, (list, tuple)):
        return tuple(_plain(v) for v in inner)
    return inner


def event_from_signal(
    signal: EkosSignal, body: list[Any], version: KStarsFormat
) -> EkosEvent | None:
    """Build the event for a raw signal body; None when the signal is not about KStars."""
    if signal in _STATE_KIND:
        return EkosEvent(signal, state_from_code(_STATE_KIND[signal], _int_of(body[0]), version))
    if signal is EkosSignal.KSTARS_PRESENCE:
        name, _old, new = body
        if name != "org.kde.kstars":
            return None
        return EkosEvent(signal, bool(new))
    if signal is EkosSignal.CAPTURE_COMPLETE:
        data = {str(k): _plain(v) for k, v in dict(body[0]).items()}
        return EkosEvent(signal, MappingProxyType(data))
    return EkosEvent(signal, str(body[0]))


class Subscription:
    """A live signal subscription; ``await close()`` ends it (twice is harmless)."""

    def __init__(self, unsubscribe: Callable[[], Awaitable[None]]) -> None:
        self._unsubscribe: Callable[[], Awaitable[None]] | None = unsubscribe

    async def close(self) -> None:
        """Stop delivering events."""
        fn, self._unsubscribe = self._unsubscribe, None
        if fn is not None:
            await fn()


class EventStream:
    """A queue of :class:`EkosEvent`; read with ``await next()`` or ``async for``."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[EkosEvent] = asyncio.Queue()

    def put(self, event: EkosEvent) -> None:
        """Add an event (the subscription callback)."""
        self._queue.put_nowait(event)

    async def next(self, timeout_s: float | None = None) -> EkosEvent:
        """The next event.

        Raises:
            EkosTimeout: nothing arrived within ``timeout_s``.
        """
        try:
            return await asyncio.wait_for(self._queue.get(), timeout_s)
        except asyncio.TimeoutError as exc:
            raise EkosTimeout(f"No Ekos signal arrived within {timeout_s:g} s.") from exc

    async def wait_for(self, predicate: Callable[[EkosEvent], bool], timeout_s: float) -> EkosEvent:
        """Skip events until one satisfies ``predicate``.

        Raises:
            EkosTimeout: no such event within ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise EkosTimeout(f"The awaited Ekos signal did not come within {timeout_s:g} s.")
            event = await self.next(remaining)
            if predicate(event):
                return event

    def drain(self) -> list[EkosEvent]:
        """Every event already queued, without waiting."""
        out: list[EkosEvent] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> EkosEvent:
        return await self.next()
