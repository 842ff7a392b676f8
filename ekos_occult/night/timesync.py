"""The real :class:`~ekos_occult.night.ports.ClockSyncReader`: the kernel's time-sync state.

``adjtimex(2)`` (``ntp_adjtime``) with ``modes = 0`` only reads: the status word (``STA_UNSYNC``
set when no time daemon disciplines the clock), the return value (``TIME_ERROR`` when the clock
is not synchronised), the maximum error and the estimated error (microseconds). Any user may
call it. When ``chronyc`` is installed and answers (``chronyc -c tracking``) its reference,
stratum, offset and leap status are added; chrony (or gpsd) is never required.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import shutil
import subprocess
from typing import Any

from ekos_occult.night.ports import ClockSync

__all__ = ["KernelClockReader", "parse_chrony_tracking", "STA_UNSYNC", "TIME_ERROR"]

STA_UNSYNC = 0x0040
TIME_ERROR = 5
_CHRONY_TIMEOUT_S = 2.0


class _Timex(ctypes.Structure):
    """``struct timex`` (Linux, <sys/timex.h>); ctypes lays out the C alignment."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
        ("_slack", ctypes.c_char * 64),  # room if a kernel's struct is longer
    ]


def _adjtimex() -> tuple[int, _Timex] | str:
    """(clock state, timex) from libc, or why it could not be read."""
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = getattr(libc, "adjtimex", None) or libc.ntp_adjtime
    except (OSError, AttributeError) as exc:
        return f"libc adjtimex unavailable: {exc}"
    tx = _Timex()
    tx.modes = 0  # read only
    state = int(fn(ctypes.byref(tx)))
    if state < 0:
        return f"adjtimex failed (errno {ctypes.get_errno()})"
    return state, tx


def parse_chrony_tracking(text: str) -> dict[str, Any] | None:
    """``chronyc -c tracking`` (one CSV line) as a dict; None when it is not that."""
    parts = text.strip().split(",")
    if len(parts) < 14:
        return None
    try:
        return {
            "reference": parts[1] or parts[0],
            "stratum": int(parts[2]),
            "system_offset_s": float(parts[4]),
            "root_delay_s": float(parts[10]),
            "root_dispersion_s": float(parts[11]),
            "leap_status": parts[13].strip(),
        }
    except ValueError:
        return None


def _chrony() -> dict[str, Any] | None:
    exe = shutil.which("chronyc")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-c", "tracking"],
            capture_output=True,
            text=True,
            timeout=_CHRONY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_chrony_tracking(out.stdout) if out.returncode == 0 else None


class KernelClockReader:
    """Reads the kernel's clock state (and chrony's, when present); never raises."""

    def __init__(self, *, chrony: bool = True) -> None:
        self._chrony = chrony

    def read(self) -> ClockSync:
        """The clock's synchronisation now."""
        got = _adjtimex()
        detail = _chrony() if self._chrony else None
        if isinstance(got, str):
            return ClockSync(None, source=got, detail=detail)
        state, tx = got
        synced = not (tx.status & STA_UNSYNC) and state != TIME_ERROR
        return ClockSync(
            synced,
            max_error_s=tx.maxerror / 1e6,
            est_error_s=tx.esterror / 1e6,
            source="adjtimex",
            detail=detail,
        )
