"""The D-Bus adapter to KStars/Ekos: one typed async method, in our terms, per Ekos call.

:class:`EkosClient` is the one shape of it that the rest of the package uses (tests pass fakes
with the methods they need). It is put together from one call set per Ekos module, each over
the shared connection and call core :class:`~ekos_occult.kstars.bus.KStarsBus` (the only
:mod:`dbus_next` import):

========================================  ==============================================
:mod:`~ekos_occult.kstars.kstars_calls`   KStars itself: process, version, location
:mod:`~ekos_occult.kstars.ekos_calls`     the Ekos manager: window, profiles, start, log
:mod:`~ekos_occult.kstars.scheduler_calls`  the scheduler: state, load, start, stop, log
:mod:`~ekos_occult.kstars.capture_calls`  the capture module: state, camera, abort
:mod:`~ekos_occult.kstars.mount_calls`    the mount: state, park, pointing
:mod:`~ekos_occult.kstars.indi_calls`     INDI devices and their properties
========================================  ==============================================

Nothing of D-Bus leaks out: callers get plain Python values, the state enums of
:mod:`ekos_occult.kstars.states` and our own errors (see :mod:`~ekos_occult.kstars.bus`).
Signals (scheduler log and status, capture, mount, KStars leaving or returning) are delivered as
:class:`EkosEvent` records through :meth:`EkosClient.subscribe` or :meth:`EkosClient.listen`.
"""

from __future__ import annotations

from ekos_occult.kstars.bus import KSTARS_SERVICE, NOT_RUNNING_MESSAGE
from ekos_occult.kstars.capture_calls import CaptureCalls
from ekos_occult.kstars.ekos_calls import EkosCalls
from ekos_occult.kstars.events import EkosEvent, EkosSignal, EventStream, Subscription
from ekos_occult.kstars.indi_calls import IndiCalls
from ekos_occult.kstars.kstars_calls import KStarsCalls, KStarsLocation
from ekos_occult.kstars.mount_calls import MountCalls
from ekos_occult.kstars.scheduler_calls import SchedulerCalls

__all__ = [
    "EkosClient",
    "KStarsLocation",
    "EkosEvent",
    "EkosSignal",
    "EventStream",
    "Subscription",
    "KSTARS_SERVICE",
    "NOT_RUNNING_MESSAGE",
]


class EkosClient(KStarsCalls, EkosCalls, SchedulerCalls, CaptureCalls, MountCalls, IndiCalls):
    """Async client of one KStars instance on one D-Bus bus: every call set on one connection.

    Nothing happens in the constructor; call :meth:`connect` (or use ``async with``) first.

    Args:
        bus_address: the D-Bus address (``unix:path=...``) of KStars' session bus.
        timeout_s: the longest any single call may take.
        version: the KStars file format (family) whose state numbering to use.
    """
