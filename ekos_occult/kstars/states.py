"""Ekos states in our terms, and how each KStars version numbers them on D-Bus.

KStars sends module states as bare integers (C++ enums). The numbering changed between
versions, so the integers are mapped to names here, per KStars version family, and nothing
outside :mod:`ekos_occult.kstars.client` ever sees the integers. An integer a version does not know
becomes ``UNKNOWN`` rather than an error: a newer Ekos must not crash a night.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TypeVar

from ekos_occult.ekosfiles.formats import KStarsFormat

__all__ = [
    "IDLE_SCHEDULER_STATES",
    "is_scheduler_idle",
    "SchedulerState",
    "CaptureState",
    "AlignState",
    "MountStatus",
    "ParkStatus",
    "CommunicationStatus",
    "PropertyState",
    "state_from_code",
]


class SchedulerState(str, Enum):
    """What the Ekos scheduler is doing (``Scheduler.status``)."""

    IDLE = "idle"
    STARTUP = "startup"
    RUNNING = "running"
    PAUSED = "paused"
    SHUTDOWN = "shutdown"
    ABORTED = "aborted"
    LOADING = "loading"
    UNKNOWN = "unknown"


IDLE_SCHEDULER_STATES = frozenset({SchedulerState.IDLE, SchedulerState.ABORTED})
"""The scheduler states in which no job runs: idle, or stopped after an abort."""


def is_scheduler_idle(state: SchedulerState) -> bool:
    """Whether the scheduler runs no job (idle, or aborted), the one definition of "idle".

    Only then may its queue be replaced: KStars 3.6.2 loading a schedule while the scheduler
    runs ends up capturing without slewing (``docs/kstars-facts.md`` §5). A stopped scheduler
    reports idle within a second.
    """
    return state in IDLE_SCHEDULER_STATES


class CaptureState(str, Enum):
    """What the Ekos capture module is doing (``Capture.status``)."""

    IDLE = "idle"
    PROGRESS = "progress"
    CAPTURING = "capturing"
    PAUSE_PLANNED = "pause_planned"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    ABORTED = "aborted"
    WAITING = "waiting"
    IMAGE_RECEIVED = "image_received"
    DITHERING = "dithering"
    FOCUSING = "focusing"
    FILTER_FOCUS = "filter_focus"
    CHANGING_FILTER = "changing_filter"
    GUIDER_DRIFT = "guider_drift"
    SETTING_TEMPERATURE = "setting_temperature"
    SETTING_ROTATOR = "setting_rotator"
    ALIGNING = "aligning"
    CALIBRATING = "calibrating"
    MERIDIAN_FLIP = "meridian_flip"
    COMPLETE = "complete"
    UNKNOWN = "unknown"


class AlignState(str, Enum):
    """What Ekos Align is doing (``Align.status``): ``COMPLETE`` = plate solved (and synced or
    slewed as asked), ``FAILED``/``ABORTED`` = not solved."""

    IDLE = "idle"
    COMPLETE = "complete"
    FAILED = "failed"
    ABORTED = "aborted"
    PROGRESS = "progress"
    SUCCESSFUL = "successful"  # the solver solved one image (more steps may follow)
    SYNCING = "syncing"
    SLEWING = "slewing"
    ROTATING = "rotating"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


class MountStatus(str, Enum):
    """What the mount is doing (``Mount.status``)."""

    IDLE = "idle"
    MOVING = "moving"
    SLEWING = "slewing"
    TRACKING = "tracking"
    PARKING = "parking"
    PARKED = "parked"
    ERROR = "error"
    UNKNOWN = "unknown"


class ParkStatus(str, Enum):
    """The mount's park state (``Mount.parkStatus``)."""

    UNKNOWN = "unknown"
    PARKED = "parked"
    PARKING = "parking"
    UNPARKING = "unparking"
    UNPARKED = "unparked"
    ERROR = "error"


class CommunicationStatus(str, Enum):
    """Ekos or INDI connection state (``Ekos.ekosStatus`` / ``Ekos.indiStatus``)."""

    IDLE = "idle"
    PENDING = "pending"
    SUCCESS = "success"
    ERROR = "error"
    UNKNOWN = "unknown"


class PropertyState(str, Enum):
    """The state light of an INDI property (``INDI.getPropertyState``)."""

    IDLE = "idle"
    OK = "ok"
    BUSY = "busy"
    ALERT = "alert"
    INVALID = "invalid"  # also what KStars answers for an unknown device or property


_S = SchedulerState
_C = CaptureState
_L = AlignState
_M = MountStatus
_P = ParkStatus
_N = CommunicationStatus

# KStars 3.6.2 ekos.h / indimount.h / indistd.h. 3.7 (READ in the newest source) kept the same
# order for these enums; a new family goes here when a release renumbers them.
_CODES_36: dict[type[Enum], Sequence[Enum]] = {
    SchedulerState: (
        _S.IDLE,
        _S.STARTUP,
        _S.RUNNING,
        _S.PAUSED,
        _S.SHUTDOWN,
        _S.ABORTED,
        _S.LOADING,
    ),
    CaptureState: (
        _C.IDLE,
        _C.PROGRESS,
        _C.CAPTURING,
        _C.PAUSE_PLANNED,
        _C.PAUSED,
        _C.SUSPENDED,
        _C.ABORTED,
        _C.WAITING,
        _C.IMAGE_RECEIVED,
        _C.DITHERING,
        _C.FOCUSING,
        _C.FILTER_FOCUS,
        _C.CHANGING_FILTER,
        _C.GUIDER_DRIFT,
        _C.SETTING_TEMPERATURE,
        _C.SETTING_ROTATOR,
        _C.ALIGNING,
        _C.CALIBRATING,
        _C.MERIDIAN_FLIP,
        _C.COMPLETE,
    ),
    AlignState: (
        _L.IDLE,
        _L.COMPLETE,
        _L.FAILED,
        _L.ABORTED,
        _L.PROGRESS,
        _L.SUCCESSFUL,
        _L.SYNCING,
        _L.SLEWING,
        _L.ROTATING,
        _L.SUSPENDED,
    ),
    MountStatus: (_M.IDLE, _M.MOVING, _M.SLEWING, _M.TRACKING, _M.PARKING, _M.PARKED, _M.ERROR),
    ParkStatus: (_P.UNKNOWN, _P.PARKED, _P.PARKING, _P.UNPARKING, _P.UNPARKED, _P.ERROR),
    CommunicationStatus: (_N.IDLE, _N.PENDING, _N.SUCCESS, _N.ERROR),
}

_CODES: dict[KStarsFormat, dict[type[Enum], Sequence[Enum]]] = {
    KStarsFormat.V3_6: _CODES_36,
    KStarsFormat.V3_7: _CODES_36,
}

E = TypeVar(
    "E", SchedulerState, CaptureState, AlignState, MountStatus, ParkStatus, CommunicationStatus
)


def state_from_code(kind: type[E], code: int, version: KStarsFormat = KStarsFormat.V3_6) -> E:
    """Name the integer state ``code`` that KStars ``version`` sent for an enum ``kind``.

    Args:
        kind: one of the state enums of this module.
        code: the integer from D-Bus.
        version: the KStars file format (family) that sent it.

    Returns:
        The member of ``kind``; ``UNKNOWN`` when the version does not define ``code``.
    """
    table = _CODES.get(version, _CODES_36)[kind]
    if 0 <= code < len(table):
        member = table[code]
        assert isinstance(member, kind)
        return member
    return kind("unknown")
