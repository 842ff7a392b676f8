"""The sandbox's virtual display (Xvfb on a free display number) and its private session bus
(``dbus-daemon``), each started detached and reporting ready through a pipe."""

from __future__ import annotations

import os
import secrets
import select
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from ekos_occult.errors import SandboxError
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sandbox_layout import Layout, SandboxState
from ekos_occult.model import Site

__all__ = [
    "start_display_and_bus",
]

_MAX_SOCKET_PATH = 100


def _read_line(fd: int, timeout_s: float, what: str) -> str:
    """Read one line a child writes to the pipe ``fd`` (display number, bus address)."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SandboxError(f"{what} did not start within {timeout_s:g} s.")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise SandboxError(f"{what} exited at start; see its log.")
        data += chunk
    return data.decode().strip()


def _spawn_reporting(
    argv: list[str], env: Mapping[str, str], log: Path, what: str
) -> tuple[ProcessRecord, str]:
    """Spawn ``argv`` (whose ``{fd}`` placeholders get a pipe) and read the line it reports."""
    r, w = os.pipe()
    try:
        rec = _procs.spawn([a.replace("{fd}", str(w)) for a in argv], env, log, keep_fds=[w])
        os.close(w)
        w = -1
        try:
            return rec, _read_line(r, 15.0, what)
        except SandboxError:
            _procs.terminate([rec], 2.0)
            raise
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _bus_listen_address(layout: Layout) -> str:
    sock = layout.runtime / "bus"
    if len(str(sock)) <= _MAX_SOCKET_PATH:
        return f"unix:path={sock}"
    return f"unix:dir={tempfile.gettempdir()}"  # long state dir: the daemon names a socket


def _display_is_free(n: int) -> bool:
    # A lock file can be missing while a server still owns the socket (and vice versa).
    return not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()


def _start_xvfb(layout: Layout, xvfb: str, env: Mapping[str, str]) -> tuple[ProcessRecord, str]:
    """Start Xvfb on a display no other server uses; retry on a lost race."""
    first = 10 + secrets.randbelow(80)  # parallel sandboxes rarely pick the same first number
    for n in [*range(first, 100), *range(10, first)]:
        if not _display_is_free(n):
            continue
        try:
            rec, ready = _spawn_reporting(
                [
                    xvfb,
                    f":{n}",
                    "-displayfd",
                    "{fd}",
                    "-screen",
                    "0",
                    "1600x1000x24",
                    "-nolisten",
                    "tcp",
                ],
                env,
                layout.logs / "xvfb.log",
                "Xvfb",
            )
        except SandboxError:
            continue  # another server took the display first
        if ready == str(n) and _procs.is_alive(rec):
            return rec, str(n)
        _procs.terminate([rec], 2.0)
    raise SandboxError(
        f"Xvfb could not start on any display :10 to :99; see its log in {layout.logs}."
    )


def start_display_and_bus(
    layout: Layout, binaries: Mapping[str, str], site: Site, profile: str
) -> SandboxState:
    """Start Xvfb on a free display and the private session bus.

    Raises:
        SandboxError: either did not report ready.
    """

    env = {"PATH": os.defpath}
    xvfb, display = _start_xvfb(layout, binaries["Xvfb"], env)
    try:
        dbus, address = _spawn_reporting(
            [
                binaries["dbus-daemon"],
                "--session",
                "--nofork",
                "--nopidfile",
                f"--address={_bus_listen_address(layout)}",
                "--print-address={fd}",
            ],
            env,
            layout.logs / "dbus.log",
            "dbus-daemon",
        )
    except SandboxError:
        _procs.terminate([xvfb], 2.0)
        raise
    return SandboxState(layout.state_dir, address, f":{display}", site, profile, xvfb, dbus)
