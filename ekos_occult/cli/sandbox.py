"""``ekos-occult sandbox start|status|stop|occult|screenshot``: a headless KStars/Ekos with the
INDI simulators, real stars in its camera (``--no-sky``: noise), simulated occultations, and its
Ekos window for a person to see (a PNG, or VNC on localhost with ``start --vnc``)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any

from ekos_occult.cli import values
from ekos_occult.cli.options import add_site_option
from ekos_occult.settings import Settings
from ekos_occult.utc import parse_utc

if TYPE_CHECKING:
    from ekos_occult.kstars.sandbox import SandboxStatus
    from ekos_occult.kstars.sky import Occultation

NAME = "sandbox"
HELP = "start, inspect or stop a headless KStars/Ekos with the INDI simulators (to try, to test)"

__all__ = ["NAME", "HELP", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``start``, ``status`` and ``stop``."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("start", "start the sandbox (or report the one running) and print its bus address"),
        ("status", "show the sandbox's processes, devices and Ekos state"),
        ("stop", "stop every process of the sandbox and remove its sockets"),
        ("occult", "simulate an occultation: dim a star in the CCD Simulator from D to R"),
        ("screenshot", "save a PNG of the sandbox's Ekos window (optionally on one tab)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--state-dir",
            metavar="DIR",
            dest="state_dir",
            type=values.output_dir,
            help="sandbox directory (default: the per-user state dir, "
            "e.g. ~/.local/state/ekos-occult/sandbox)",
        )
        if name == "status":
            p.add_argument(
                "--json",
                action="store_true",
                help="one JSON object: processes, devices, Ekos state and sky.occultations "
                "(the simulated truth: name, ra, dec, D, R, drop_mag)",
            )
        if name == "occult":
            _add_occult_arguments(p)
        if name == "screenshot":
            from ekos_occult.kstars.sandbox_gui import TABS

            p.add_argument(
                "--tab",
                choices=TABS,
                help="switch Ekos to this tab first (clicked: Ekos 3.6 has no D-Bus call for it)",
            )
            p.add_argument(
                "file",
                metavar="FILE.png",
                type=values.output_file(".png"),
                help="the PNG to write",
            )
        if name == "start":
            add_site_option(p)
            p.add_argument(
                "--no-sky",
                action="store_true",
                dest="no_sky",
                help="the CCD Simulator draws noise instead of Tycho-2 stars (no plate solving)",
            )
            p.add_argument(
                "--vnc",
                action="store_true",
                help="also serve the display over VNC on 127.0.0.1 only (x11vnc; the port is "
                "printed and in `status --json`); stopped with the sandbox",
            )
            p.add_argument(
                "--print-env",
                action="store_true",
                help='print only shell `export` lines, for `eval "$(...)"`',
            )
            p.add_argument(
                "--lang",
                metavar="LANG",
                type=values.text,
                help="run KStars in this language (e.g. de: German log lines, as on a "
                "German user's rig); default untranslated English",
            )
            p.add_argument(
                "--timeout",
                type=values.seconds(0.0, 3600.0, low_open=True),
                default=180.0,
                metavar="SECONDS",
                help="how long KStars and the devices may take (default 180)",
            )


_RA = values.number(0.0, 360.0, "°", name="RA in degrees")
_DEC = values.number(-90.0, 90.0, "°", name="Dec in degrees")


def _add_occult_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="occultation", type=values.text, help="a name for the report")
    p.add_argument("--ra", type=_RA, metavar="DEG", help="the star's RA, J2000 degrees")
    p.add_argument("--dec", type=_DEC, metavar="DEG", help="the star's Dec, J2000 degrees")
    p.add_argument(
        "--D", dest="d_utc", type=values.utc_time, metavar="UTC", help="disappearance, ISO UTC"
    )
    p.add_argument(
        "--R", dest="r_utc", type=values.utc_time, metavar="UTC", help="reappearance, ISO UTC"
    )
    p.add_argument(
        "--drop",
        type=values.number(0.0, 30.0, " mag", low_open=True, name="magnitude drop"),
        metavar="MAG",
        help="magnitudes lost (default: a full drop, the star vanishes)",
    )
    p.add_argument(
        "--mag",
        type=values.number(-30.0, 30.0, " mag", name="magnitude"),
        default=9.0,
        metavar="MAG",
        help="the star's magnitude when the catalogue has no star there (default 9)",
    )
    p.add_argument(
        "--clear", action="store_true", help="remove every simulated occultation instead"
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Dispatch to start/status/stop. Returns the exit status."""
    from ekos_occult.kstars import sandbox

    state_dir = settings.sandbox_dir or sandbox.default_state_dir()
    if args.action == "start":
        return _start(args, settings, state_dir)
    if args.action == "status":
        return _status(state_dir, args.json)
    if args.action == "occult":
        return _occult(args, state_dir)
    if args.action == "screenshot":
        return _screenshot(args, state_dir)
    ended = sandbox.stop(state_dir)
    if not ended:
        print(f"No sandbox recorded in {state_dir}.")
    else:
        print(f"Stopped {len(ended)} process(es): " + ", ".join(f"{r.name} {r.pid}" for r in ended))
    return 0


def _start(args: argparse.Namespace, settings: Settings, state_dir: os.PathLike[str]) -> int:
    import asyncio  # here, not at the top: --help and the other commands do not need it
    from pathlib import Path

    from ekos_occult.kstars import sandbox

    site = settings.site or sandbox.DEFAULT_SITE
    t0 = time.monotonic()
    state, was_running = asyncio.run(
        sandbox.start(
            Path(state_dir),
            site,
            dict(os.environ),
            profile=settings.ekos.profile,
            timeout_s=args.timeout,
            progress=_say,
            lang=args.lang or "",
            sky=not args.no_sky,
            vnc=args.vnc,
        )
    )
    if args.print_env:
        for key, value in state.shell_env().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0
    if was_running:
        print(f"A sandbox is already running in {state.state_dir}.")
    else:
        print(f"Sandbox started in {time.monotonic() - t0:.1f} s in {state.state_dir}.")
    print(f"Devices: {', '.join(state.devices)}")
    print(f"Site: {state.site} (KStars local time = UTC{state.tz_hours:+g} h)")
    if state.lang:
        print(f"KStars language: {state.lang}")
    print(f"DBUS_SESSION_BUS_ADDRESS={state.bus_address}")
    print(f"DISPLAY={state.display}")
    if state.vnc_port:
        print(f"VNC: 127.0.0.1:{state.vnc_port} (e.g. vncviewer localhost::{state.vnc_port})")
    print(
        f"Talk to it with --bus {shlex.quote(state.bus_address)}, or: "
        f'eval "$(ekos-occult sandbox start --print-env'
        f'{" --state-dir " + shlex.quote(str(state.state_dir)) if args.state_dir else ""})"'
    )
    return 0


def _occult(args: argparse.Namespace, state_dir: os.PathLike[str]) -> int:
    from pathlib import Path

    from ekos_occult.errors import ConfigError
    from ekos_occult.kstars import sandbox, sky

    state = sandbox.read_state(Path(state_dir))
    if state is None or not state.is_running():
        raise ConfigError(f"No sandbox is running in {state_dir}: `ekos-occult sandbox start`.")
    if not state.sky:
        raise ConfigError(
            f"The sandbox in {state_dir} was started with --no-sky: its camera draws noise, "
            "so no star can be dimmed. Restart it without --no-sky."
        )
    if args.clear:
        sky.write_occultations(state.sky_files, [])
        print("No simulated occultation left.")
        return 0
    occ = _occultation(args)
    current = sky.read_occultations(state.sky_files)
    sky.write_occultations(state.sky_files, [*current, occ])
    print(json.dumps(occ.to_json()))
    return 0


def _screenshot(args: argparse.Namespace, state_dir: os.PathLike[str]) -> int:
    import asyncio
    from pathlib import Path

    from ekos_occult.errors import ConfigError
    from ekos_occult.files import write_bytes_atomic
    from ekos_occult.kstars import sandbox

    out = Path(args.file)
    state = sandbox.read_state(Path(state_dir))
    if state is None or not state.is_running():
        raise ConfigError(f"No sandbox is running in {state_dir}: `ekos-occult sandbox start`.")
    png = asyncio.run(sandbox.screenshot(state, args.tab))
    write_bytes_atomic(out, png, "FILE.png")
    tab = f" on the {args.tab} tab" if args.tab else ""
    print(f"Wrote {out} (the Ekos window{tab}, display {state.display}).")
    return 0


def _occultation(args: argparse.Namespace) -> Occultation:

    from ekos_occult.errors import ConfigError
    from ekos_occult.kstars.sky import FULL_DROP_MAG, Occultation

    missing = [
        f
        for f, v in (
            ("--ra", args.ra),
            ("--dec", args.dec),
            ("--D", args.d_utc),
            ("--R", args.r_utc),
        )
        if v is None
    ]
    if missing:
        raise ConfigError(f"sandbox occult: give {', '.join(missing)} (or --clear).")
    times = []
    for flag, text in (("--D", args.d_utc), ("--R", args.r_utc)):
        try:
            t = parse_utc(str(text))
        except ValueError as exc:
            raise ConfigError(
                f"{flag} {text}: not an ISO date-time (e.g. 2026-01-31T21:04:05.2Z)."
            ) from exc
        times.append(t)
    if not times[0] < times[1]:
        raise ConfigError(f"--D {args.d_utc} must come before --R {args.r_utc}.")
    if not (0.0 <= args.ra < 360.0 and -90.0 <= args.dec <= 90.0):
        raise ConfigError(f"--ra {args.ra} --dec {args.dec}: RA in [0, 360), Dec in [-90, 90].")
    drop = FULL_DROP_MAG if args.drop is None else args.drop
    if drop <= 0:
        raise ConfigError(f"--drop {args.drop}: must be > 0 magnitudes.")
    return Occultation(args.name, args.ra, args.dec, times[0], times[1], drop, args.mag)


def _status(state_dir: os.PathLike[str], as_json: bool = False) -> int:
    import asyncio
    from pathlib import Path

    from ekos_occult.kstars import sandbox

    st = asyncio.run(sandbox.status(Path(state_dir)))
    if as_json:
        print(json.dumps(_status_json(st, state_dir), indent=2))
        return 0 if st is not None and not st.error else 1
    if st is None:
        print(f"No sandbox recorded in {state_dir}.")
        return 1
    s = st.state
    print(f"State dir: {s.state_dir}")
    print(f"Bus: {s.bus_address}")
    print(f"Display: {s.display}")
    if s.vnc_port:
        print(f"VNC: 127.0.0.1:{s.vnc_port}")
    print(f"Site: {s.site} (KStars local time = UTC{s.tz_hours:+g} h)")
    procs = [r for r in (s.kstars, s.dbus, s.xvfb, s.vnc) if r is not None] + list(s.children)
    for r in procs:
        alive = "running" if st.alive.get(r.pid) else "gone"
        print(f"  {r.name:<28} pid {r.pid:<8} {alive}")
    if st.error:
        print(f"Problem: {st.error}")
        return 1
    for d in st.devices:
        print(f"Device: {d} ({'connected' if st.connected.get(d) else 'disconnected'})")
    print(f"Ekos: {st.ekos}; INDI: {st.indi}; scheduler: {st.scheduler}")
    return 0


def _status_json(st: SandboxStatus | None, state_dir: os.PathLike[str]) -> dict[str, Any]:
    from ekos_occult.kstars import sky

    if st is None:
        return {"state_dir": str(state_dir), "running": False, "error": "no sandbox recorded"}
    s = st.state
    procs = [r for r in (s.kstars, s.dbus, s.xvfb, s.vnc) if r is not None] + list(s.children)
    occs = sky.read_occultations(s.sky_files) if s.sky else []
    return {
        "state_dir": str(s.state_dir),
        "running": s.is_running(),
        "bus": s.bus_address,
        "display": s.display,
        "vnc_port": s.vnc_port,
        "site": {"lat": s.site.lat_deg, "lon": s.site.lon_deg, "elevation_m": s.site.elevation_m},
        "tz_hours": s.tz_hours,
        "processes": [
            {"name": r.name, "pid": r.pid, "alive": bool(st.alive.get(r.pid))} for r in procs
        ],
        "devices": {d: bool(st.connected.get(d)) for d in st.devices},
        "ekos": st.ekos,
        "indi": st.indi,
        "scheduler": st.scheduler,
        "error": st.error,
        "sky": {"stars": s.sky, "occultations": [o.to_json() for o in occs]},
    }
