"""The real :class:`~ekos_occult.night.ports.ClockSyncReader`: the kernel's time-sync state.

``adjtimex(2)`` (``ntp_adjtime``) with ``modes = 0`` only reads: the status word (``STA_UNSYNC``
set when no time daemon disciplines the clock), the return value (``TIME_ERROR`` when the clock
is not synchronised), the maximum error and the estimated error (microseconds). Any user may
call it. When ``chronyc`` is installed and answers (``chronyc -c tracking``) its reference,
stratum, offset and leap status are added; when gpsd answers on localhost:2947 (its JSON
protocol: ``?WATCH``, then ``?POLL``; a short timeout, only if the port accepts) its fix, time,
satellites in use, devices and whether it sees a PPS are added under ``gpsd``. Neither chrony
nor gpsd is required.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ekos_occult.night.ports import ClockSync

__all__ = [
    "KernelClockReader",
    "parse_chrony_tracking",
    "read_gpsd",
    "summarise_gpsd",
    "STA_UNSYNC",
    "TIME_ERROR",
    "GPSD_PORT",
]

STA_UNSYNC = 0x0040
TIME_ERROR = 5
_CHRONY_TIMEOUT_S = 2.0
GPSD_PORT = 2947
_GPSD_TIMEOUT_S = 1.5  # whole exchange; gpsd answers ?POLL at once
_GPSD_MAX_BYTES = 1 << 20
_FIX = {0: "unknown", 1: "no fix", 2: "2D", 3: "3D"}


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


def summarise_gpsd(messages: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """gpsd's JSON reports (VERSION, DEVICES, TPV, SKY, PPS/TOFF, POLL) in a few fields.

    Returns:
        ``release`` (gpsd's version), ``devices`` (paths), ``fix`` (``3D``, ``2D``, ``no fix``,
        ``unknown``), ``time`` (the receiver's UTC, ISO), ``time_error_s`` (gpsd's ``ept``),
        ``satellites_used``, ``pps`` (a PPS or TOFF report was seen); None when no message
        was gpsd's.
    """
    out: dict[str, Any] = {}
    tpv: Mapping[str, Any] | None = None
    sky: Mapping[str, Any] | None = None
    for m in messages:
        cls = m.get("class")
        if cls == "VERSION":
            out["release"] = str(m.get("release", ""))
        elif cls == "DEVICES":
            devices = m.get("devices")
            if isinstance(devices, list):
                out["devices"] = [str(d.get("path", "?")) for d in devices if isinstance(d, dict)]
        elif cls == "TPV":
            tpv = m
        elif cls == "SKY":
            sky = m
        elif cls in ("PPS", "TOFF"):
            out["pps"] = True
        elif cls == "POLL":
            tpvs, skies = m.get("tpv"), m.get("sky")
            if isinstance(tpvs, list) and tpvs and isinstance(tpvs[-1], dict):
                tpv = tpvs[-1]
            if isinstance(skies, list) and skies and isinstance(skies[-1], dict):
                sky = skies[-1]
        else:
            continue
        out.setdefault("release", None)
    if not out:
        return None
    mode = tpv.get("mode") if tpv is not None else None
    out["fix"] = _FIX.get(mode, "unknown") if isinstance(mode, int) else "unknown"
    out["time"] = str(tpv["time"]) if tpv is not None and "time" in tpv else None
    ept = tpv.get("ept") if tpv is not None else None
    out["time_error_s"] = float(ept) if isinstance(ept, (int, float)) else None
    used = None
    if sky is not None:
        if isinstance(sky.get("uSat"), int):
            used = int(sky["uSat"])
        elif isinstance(sky.get("satellites"), list):
            used = sum(1 for s in sky["satellites"] if isinstance(s, dict) and s.get("used"))
    out["satellites_used"] = used
    out.setdefault("devices", [])
    out.setdefault("pps", False)
    return out


def read_gpsd(
    host: str = "127.0.0.1", port: int = GPSD_PORT, timeout_s: float = _GPSD_TIMEOUT_S
) -> dict[str, Any] | None:
    """Ask a local gpsd for its state (:func:`summarise_gpsd`); None when nothing answers.

    Connects (refused at once when no gpsd listens), sends ``?WATCH={"enable":true,
    "json":true};?POLL;`` and reads JSON lines until the POLL answer or ``timeout_s`` in all.
    Never raises.
    """
    deadline = time.monotonic() + timeout_s
    messages: list[dict[str, Any]] = []
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b'?WATCH={"enable":true,"json":true};?POLL;\n')
            buf, total = b"", 0
            while time.monotonic() < deadline and total < _GPSD_MAX_BYTES:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                total += len(chunk)
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    try:
                        m = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(m, dict):
                        messages.append(m)
                if any(m.get("class") == "POLL" for m in messages):
                    break
    except (OSError, ValueError):
        pass  # refused, timed out, reset: what was read so far counts
    return summarise_gpsd(messages)


class KernelClockReader:
    """Reads the kernel's clock state (and chrony's and gpsd's, when present); never raises."""

    def __init__(self, *, chrony: bool = True, gpsd: bool = True) -> None:
        self._chrony = chrony
        self._gpsd = gpsd

    def read(self) -> ClockSync:
        """The clock's synchronisation now."""
        got = _adjtimex()
        detail = _chrony() if self._chrony else None
        gps = read_gpsd() if self._gpsd else None
        if gps is not None:
            detail = {**(detail or {}), "gpsd": gps}
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
