"""A real KStars/Ekos in a box: start, inspect and stop a headless KStars with the INDI simulators.

``start`` runs Xvfb on a free display, a private ``dbus-daemon`` whose socket lives in the state
directory, and KStars with its own HOME/XDG directories there (the user's KStars settings are
never touched), then opens Ekos, starts the built-in "Simulators" profile (Telescope, CCD and
Focuser Simulator), waits until the devices are connected and sets KStars' location to the site.
What it started is recorded in ``<state dir>/sandbox.json`` (pids with their start times), so
that ``stop`` ends exactly those processes, and the orphans KStars leaves behind (indiserver and
its drivers), by pid. Library code: the caller passes the environment in.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ekos_occult.errors import EkosError, EkosUnavailable, SandboxError
from ekos_occult.files import write_atomic
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars import sandbox_display as _display
from ekos_occult.kstars import sandbox_ekos as _ekos
from ekos_occult.kstars import sandbox_gui as _gui
from ekos_occult.kstars import sandbox_indi as _indi
from ekos_occult.kstars import sandbox_kstars as _kstars
from ekos_occult.kstars import sandbox_layout as _layout
from ekos_occult.kstars import sky as _sky
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sandbox_layout import SandboxState
from ekos_occult.model import Site

__all__ = [
    "DEFAULT_SITE",
    "DEFAULT_PROFILE",
    "SandboxStatus",
    "default_state_dir",
    "check_binaries",
    "read_state",
    "start",
    "status",
    "stop",
    "stop_vnc",
    "resolve_bus_address",
    "screenshot",
]

log = logging.getLogger(__name__)

DEFAULT_SITE = Site(51.4769, -0.0005, 46.0)  # Royal Observatory Greenwich
DEFAULT_PROFILE = "Simulators"
STATE_FILE = "sandbox.json"
BINARIES = {
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus",
    "kstars": "kstars",
    "indiserver": "indi-bin",
    "xdotool": "xdotool",  # shows the Ekos window: closes its first-start wizard
}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SandboxStatus:
    """A running sandbox as seen now."""

    state: SandboxState
    alive: dict[int, bool]  # by pid: the roots and the recorded children
    devices: tuple[str, ...] = ()
    connected: dict[str, bool] = dataclasses.field(default_factory=dict)
    ekos: str = "unknown"
    indi: str = "unknown"
    scheduler: str = "unknown"
    error: str = ""


def default_state_dir() -> Path:
    """The per-user sandbox directory (``$XDG_STATE_HOME/ekos-occult/sandbox``)."""
    import platformdirs

    return Path(platformdirs.user_state_dir("ekos-occult")) / "sandbox"


def check_binaries(env: Mapping[str, str]) -> dict[str, str]:
    """Find Xvfb, dbus-daemon, kstars, indiserver and xdotool on ``env``'s PATH.

    Raises:
        SandboxError: naming each missing program and the Debian/Ubuntu package to install.
    """
    path = env.get("PATH", os.defpath)
    found = {name: shutil.which(name, path=path) for name in BINARIES}
    missing = [name for name, where in found.items() if where is None]
    if missing:
        pkgs = " ".join(sorted({BINARIES[m] for m in missing}))
        raise SandboxError(
            f"Cannot start the sandbox: {', '.join(missing)} not found on PATH. "
            f"Install the package(s): sudo apt-get install {pkgs}"
        )
    return {name: str(where) for name, where in found.items()}


def is_indi_socket_taken(proc_net_unix: str) -> bool:
    """Whether an INDI server already listens on INDI's fixed local socket ``/tmp/indiserver``.

    Args:
        proc_net_unix: the text of ``/proc/net/unix`` (passed in, so tests can give their own).
    """
    for line in proc_net_unix.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[7] in ("@/tmp/indiserver", "/tmp/indiserver"):
            if int(fields[3], 16) & 0x10000:  # __SO_ACCEPTCON: a listening server
                return True
    return False


def _check_indi_socket_free() -> None:
    try:
        text = Path("/proc/net/unix").read_text(encoding="ascii", errors="replace")
    except OSError:
        return  # not Linux: nothing to check
    if is_indi_socket_taken(text):
        raise SandboxError(
            "Cannot start the sandbox: another INDI server already listens on INDI's local "
            "socket /tmp/indiserver (another sandbox, or KStars/Ekos running on this machine). "
            "KStars' INDI client connects through that socket, so only one can run at a time: "
            "stop the other one (`ekos-occult sandbox stop --state-dir DIR`, or Ekos) first."
        )


def _state_path(state_dir: Path) -> Path:
    return state_dir / STATE_FILE


def _record(d: Mapping[str, Any]) -> ProcessRecord:
    return ProcessRecord(str(d["name"]), int(d["pid"]), int(d["start_ticks"]))


def read_state(state_dir: Path) -> SandboxState | None:
    """The recorded sandbox in ``state_dir``, or None when there is none.

    Raises:
        SandboxError: the state file exists but is unreadable.
    """
    path = _state_path(state_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SandboxState(
            state_dir=state_dir,
            bus_address=str(data["bus_address"]),
            display=str(data["display"]),
            site=Site(*(float(v) for v in data["site"])),
            profile=str(data["profile"]),
            xvfb=_record(data["xvfb"]),
            dbus=_record(data["dbus"]),
            kstars=_record(data["kstars"]) if data.get("kstars") else None,
            children=tuple(_record(c) for c in data.get("children", ())),
            devices=tuple(str(d) for d in data.get("devices", ())),
            tz_hours=float(data.get("tz_hours", 0.0)),
            lang=str(data.get("lang", "")),
            sky=bool(data.get("sky", False)),
            vnc=_record(data["vnc"]) if data.get("vnc") else None,
            vnc_port=int(data["vnc_port"]) if data.get("vnc_port") else None,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(
            f"{path}: unreadable sandbox state ({exc}); remove the file after "
            "checking no sandbox process is left."
        ) from exc


def _write_state(state: SandboxState) -> None:
    data = {
        "bus_address": state.bus_address,
        "display": state.display,
        "site": [state.site.lat_deg, state.site.lon_deg, state.site.elevation_m],
        "profile": state.profile,
        "xvfb": dataclasses.asdict(state.xvfb),
        "dbus": dataclasses.asdict(state.dbus),
        "kstars": dataclasses.asdict(state.kstars) if state.kstars else None,
        "children": [dataclasses.asdict(c) for c in state.children],
        "devices": list(state.devices),
        "tz_hours": state.tz_hours,
        "lang": state.lang,
        "sky": state.sky,
        "vnc": dataclasses.asdict(state.vnc) if state.vnc else None,
        "vnc_port": state.vnc_port,
    }
    write_atomic(_state_path(state.state_dir), json.dumps(data, indent=2) + "\n")


async def start(
    state_dir: Path,
    site: Site,
    env: Mapping[str, str],
    *,
    profile: str = DEFAULT_PROFILE,
    timeout_s: float = 180.0,
    progress: Progress | None = None,
    lang: str = "",
    sky: bool = True,
    vnc: bool = False,
) -> tuple[SandboxState, bool]:
    """Start the sandbox in ``state_dir``, or find the one already running there.

    Args:
        state_dir: where the state file, logs, sockets and KStars' private HOME live.
        site: the geographic location given to KStars. KStars 3.6.2 picks the site's time zone
            itself (Greenwich: UTC+0); it is recorded as ``tz_hours``.
        env: the caller's environment; only PATH is taken from it.
        profile: the Ekos profile to start.
        timeout_s: how long KStars and the devices may take to come up.
        progress: called with one line per step.
        lang: KStars' interface language (e.g. ``"de"``: German log lines, as a German user's
            KStars writes them); empty for the untranslated English.
        sky: real stars in the CCD Simulator's frames (a ``gsc`` on the drivers' PATH backed
            by the Tycho-2 index files, see :mod:`ekos_occult.kstars.sky`), so Ekos' Align can
            solve them and occultations can be simulated; False: the simulator's noise.
        vnc: also serve the display over VNC on 127.0.0.1 (x11vnc; its port is recorded as
            ``vnc_port``). A sandbox already running gets one too when it has none.

    Returns:
        (state, already_running).

    Raises:
        SandboxError: a program is missing (or, with ``sky``, the Tycho-2 index files), or
            KStars/Ekos did not come up (everything that was started is stopped again; the
            message names the log to read).
    """
    say = progress or (lambda _msg: None)
    binaries = check_binaries(env)
    x11vnc = _gui.which_x11vnc() if vnc else ""
    table = _sky.ensure_star_table() if sky else None
    old = read_state(state_dir)
    if old is not None:
        if old.is_running():
            if vnc and (old.vnc is None or not _procs.is_alive(old.vnc)):
                old = _start_vnc(old, x11vnc)
                _write_state(old)
            return old, True
        say("Cleaning up a sandbox that is no longer running.")
        stop(state_dir)
    _check_indi_socket_free()
    if lang:
        _kstars.locale_for(lang)  # refuse a language this machine cannot show first
    layout = _layout.prepare_dirs(state_dir)
    _layout.set_sky(layout, table)
    state = _display.start_display_and_bus(layout, binaries, site, profile)
    state = dataclasses.replace(state, lang=lang, sky=table is not None)
    _write_state(state)
    try:
        say(f"Xvfb on display {state.display}, private bus {state.bus_address}.")
        for attempt in range(1, KSTARS_STARTS + 1):
            try:
                if not layout.userdb.exists():
                    await _first_start(layout, binaries, env, state, timeout_s, say)
                kstars = _kstars.start_kstars(layout, binaries, env, state)
                state = dataclasses.replace(state, kstars=kstars)
                _write_state(state)
                say(f"KStars started (pid {kstars.pid}); waiting for it and for Ekos.")
                devices, tz = await _ekos.bring_up_ekos(layout, state, timeout_s, say)
                break
            except (EkosError, SandboxError) as exc:
                if attempt == KSTARS_STARTS or _kstars_alive(state):
                    raise
                say(
                    f"KStars did not come up ({exc}); starting it again "
                    f"({attempt}/{KSTARS_STARTS - 1}). KStars 3.6.2 sometimes crashes as it "
                    f"starts (SIGSEGV; see dmesg); its log: {layout.kstars_log}."
                )
                state = _clear_dead_kstars(state)
        children = tuple(_procs.sandbox_members(state.roots, state.bus_address))
        state = dataclasses.replace(state, devices=tuple(devices), children=children, tz_hours=tz)
        _write_state(state)
        if vnc:
            state = _start_vnc(state, x11vnc)
            _write_state(state)
            say(f"VNC on 127.0.0.1:{state.vnc_port} (x11vnc, localhost only).")
    except BaseException as exc:
        stop(state_dir)  # also on Ctrl-C or a test timeout: never leave processes behind
        if not isinstance(exc, (EkosError, SandboxError, OSError)):
            raise
        tail = _layout.log_tail(layout.kstars_log)
        raise SandboxError(
            f"The sandbox did not come up: {exc}\nLast lines of {layout.kstars_log}:\n{tail}"
        ) from exc
    return state, False


KSTARS_STARTS = 3
"""How many times ``start`` starts KStars when it dies while starting (a crash, not a hang)."""


def _kstars_alive(state: SandboxState) -> bool:
    return state.kstars is not None and _procs.is_alive(state.kstars)


def _clear_dead_kstars(state: SandboxState) -> SandboxState:
    """After KStars died while starting: end what it left (its INDI server and drivers, found
    by the private bus address in their environment), keep Xvfb and the bus.

    Raises:
        SandboxError: a leftover process survived SIGKILL.
    """
    roots = tuple(r for r in state.roots if r is not state.kstars)
    left = _procs.terminate(_procs.sandbox_members(roots, state.bus_address), 5.0)
    if left:
        raise SandboxError(f"Processes left by the crashed KStars would not stop: {left}.")
    cleared = dataclasses.replace(state, kstars=None)
    _write_state(cleared)
    return cleared


async def _first_start(
    layout: _layout.Layout,
    binaries: Mapping[str, str],
    env: Mapping[str, str],
    state: SandboxState,
    timeout_s: float,
    say: Progress,
) -> None:
    """Start KStars once to create its user database with two profiles, then stop it (see
    :func:`sandbox_ekos.prepare_user_db`): the real start then has no Profile Wizard."""
    say("First start in this state dir: preparing KStars' user database (Ekos profiles).")
    kstars = _kstars.start_kstars(layout, binaries, env, state)
    _write_state(dataclasses.replace(state, kstars=kstars))
    try:
        await _ekos.prepare_user_db(layout, dataclasses.replace(state, kstars=kstars), timeout_s)
    finally:
        left = _procs.terminate([kstars], 10.0)
        if left:
            raise SandboxError(f"KStars (pid {kstars.pid}) would not stop after its first start.")
        _write_state(state)


def _start_vnc(state: SandboxState, x11vnc: str) -> SandboxState:
    """Serve the sandbox display over VNC on a free 127.0.0.1 port (x11vnc).

    Raises:
        SandboxError: x11vnc did not listen within 10 s (it is stopped again).
    """
    port = _indi.free_port()
    log = state.state_dir / "logs" / "x11vnc.log"
    rec = _procs.spawn(_gui.vnc_argv(x11vnc, state.display, port), {"PATH": os.defpath}, log)
    if not _gui.wait_for_port(port, 10.0) or not _procs.is_alive(rec):
        _procs.terminate([rec], 2.0)
        raise SandboxError(f"x11vnc did not start on 127.0.0.1:{port}; see {log}.")
    return dataclasses.replace(state, vnc=rec, vnc_port=port)


def stop_vnc(state_dir: Path) -> ProcessRecord | None:
    """Stop the sandbox's VNC server only (the sandbox keeps running). Returns it, or None
    when it had none.

    Raises:
        SandboxError: x11vnc would not stop.
    """
    state = read_state(state_dir)
    if state is None or state.vnc is None:
        return None
    if _procs.terminate([state.vnc], 5.0):
        raise SandboxError(f"x11vnc (pid {state.vnc.pid}) would not stop.")
    _write_state(dataclasses.replace(state, vnc=None, vnc_port=None))
    return state.vnc


def stop(state_dir: Path, *, grace_s: float = 10.0) -> list[ProcessRecord]:
    """Stop the sandbox in ``state_dir``: KStars, its INDI server and drivers, the bus, Xvfb.

    Only processes recorded by ``start`` or attributable to them (children, their session, the
    private bus address in an orphan's environment) are signalled, by pid.

    Returns:
        The processes that were stopped.

    Raises:
        SandboxError: some process survived SIGKILL.
    """
    state = read_state(state_dir)
    if state is None:
        return []
    ended: list[ProcessRecord] = []
    left: list[ProcessRecord] = []
    if state.vnc is not None:
        left += _procs.terminate([state.vnc], 5.0)
        ended.append(state.vnc)
    # Collect KStars' offspring while KStars is alive (they are orphaned when it dies).
    members = {r.pid: r for r in _procs.sandbox_members(state.roots, state.bus_address)}
    members.update({c.pid: c for c in state.children if _procs.is_alive(c)})
    if state.kstars is not None:
        left += _procs.terminate([state.kstars], grace_s)
        ended.append(state.kstars)
    members.update({r.pid: r for r in _procs.sandbox_members(state.roots, state.bus_address)})
    left += _procs.terminate(list(members.values()), 5.0)
    ended += members.values()
    left += _procs.terminate([state.dbus], 5.0)
    left += _procs.terminate([state.xvfb], 5.0)
    ended += [state.dbus, state.xvfb]
    if left:
        raise SandboxError(
            "These sandbox processes would not stop: "
            + ", ".join(f"{r.name} (pid {r.pid})" for r in left)
        )
    _layout.remove_runtime(state_dir, state.bus_address)
    _state_path(state_dir).unlink(missing_ok=True)
    return ended


async def status(state_dir: Path, *, timeout_s: float = 5.0) -> SandboxStatus | None:
    """The sandbox in ``state_dir`` as it is now; None when none is recorded."""
    from ekos_occult.kstars.client import EkosClient

    state = read_state(state_dir)
    if state is None:
        return None
    vnc = (state.vnc,) if state.vnc else ()
    alive = {r.pid: _procs.is_alive(r) for r in (*state.roots, *state.children, *vnc)}
    if not state.is_running():
        return SandboxStatus(state, alive, error="the sandbox is not running (stale state file)")
    try:
        async with EkosClient(state.bus_address, timeout_s=timeout_s) as ekos:
            devices = tuple(await ekos.devices())
            connected = {d: await ekos.is_device_connected(d) for d in devices}
            return SandboxStatus(
                state,
                alive,
                devices,
                connected,
                ekos=(await ekos.ekos_status()).value,
                indi=(await ekos.indi_status()).value,
                scheduler=(await ekos.scheduler_status()).value,
            )
    except EkosError as exc:
        return SandboxStatus(state, alive, error=str(exc))


async def screenshot(state: SandboxState, tab: str | None = None) -> bytes:
    """A PNG of the sandbox's Ekos window, with the Ekos tab ``tab`` selected when given.

    The Ekos window is shown first if hidden (its first-start Profile Wizard closed), moved to
    the top-left of the display and raised above KStars' other windows; the tab is clicked
    (Ekos has no D-Bus call for it).

    Raises:
        SandboxError: the window or the tab could not be shown, or the display not read.
        EkosError: KStars did not answer on the bus.
    """
    import asyncio

    from ekos_occult.kstars.client import EkosClient

    if not await asyncio.to_thread(_gui.ekos_shown, state.display):
        async with EkosClient(state.bus_address, timeout_s=10.0) as ekos:
            await _gui.show_ekos(ekos.toggle_ekos_window, state.display, 20.0)
    win = await asyncio.to_thread(_gui.raise_ekos, state.display)
    if tab:
        await asyncio.to_thread(_gui.select_tab, state.display, win, tab)
    box = (win.x, win.y, win.width, win.height)
    # Qt paints a table's cells a moment after the tab shows (empty cells were grabbed at
    # 0.5 s once, OBSERVED): take the picture once two grabs 0.5 s apart are the same.
    png = b""
    for _ in range(12):
        await asyncio.sleep(0.5)
        again = _gui.png_bytes(_gui.grab(state.display, box))
        if again == png:
            break
        png = again
    return png


def resolve_bus_address(bus: str | None, env: Mapping[str, str], state_dir: Path | None) -> str:
    """The D-Bus address of the KStars to talk to.

    In order: ``--bus``; a running sandbox in an explicitly given ``state_dir``;
    ``$DBUS_SESSION_BUS_ADDRESS``; a running sandbox in the default state directory.

    Args:
        bus: the ``--bus`` value or None.
        env: the environment (passed in by the command, never read here).
        state_dir: ``--state-dir``/config value, or None for "not given".

    Raises:
        EkosUnavailable: none of these gives an address.
    """
    if bus:
        return bus
    if state_dir is not None:
        state = read_state(state_dir)
        if state is not None and state.is_running():
            return state.bus_address
    if env.get("DBUS_SESSION_BUS_ADDRESS"):
        return env["DBUS_SESSION_BUS_ADDRESS"]
    state = read_state(default_state_dir())
    if state is not None and state.is_running():
        return state.bus_address
    where = state_dir if state_dir is not None else default_state_dir()
    raise EkosUnavailable(
        "No D-Bus session bus to find KStars on: give --bus ADDRESS, set "
        f"DBUS_SESSION_BUS_ADDRESS, or start a sandbox (`ekos-occult sandbox start`; none is "
        f"running in {where})."
    )
