"""``ekos-occult sandbox start|status|stop``: a headless KStars/Ekos with the INDI simulators."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

from ekos_occult.cli.options import add_site_option
from ekos_occult.settings import Settings

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
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "--state-dir",
            metavar="DIR",
            dest="state_dir",
            help="sandbox directory (default: the per-user state dir, "
            "e.g. ~/.local/state/ekos-occult/sandbox)",
        )
        if name == "start":
            add_site_option(p)
            p.add_argument(
                "--print-env",
                action="store_true",
                help='print only shell `export` lines, for `eval "$(...)"`',
            )
            p.add_argument(
                "--lang",
                default="",
                metavar="LANG",
                help="run KStars in this language (e.g. de: German log lines, as on a "
                "German user's rig); default untranslated English",
            )
            p.add_argument(
                "--timeout",
                type=float,
                default=180.0,
                metavar="SECONDS",
                help="how long KStars and the devices may take (default 180)",
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
        return _status(state_dir)
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
            lang=args.lang,
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
    print(
        f"Talk to it with --bus {shlex.quote(state.bus_address)}, or: "
        f'eval "$(ekos-occult sandbox start --print-env'
        f'{" --state-dir " + shlex.quote(str(state.state_dir)) if args.state_dir else ""})"'
    )
    return 0


def _status(state_dir: os.PathLike[str]) -> int:
    import asyncio
    from pathlib import Path

    from ekos_occult.kstars import sandbox

    st = asyncio.run(sandbox.status(Path(state_dir)))
    if st is None:
        print(f"No sandbox recorded in {state_dir}.")
        return 1
    s = st.state
    print(f"State dir: {s.state_dir}")
    print(f"Bus: {s.bus_address}")
    print(f"Display: {s.display}")
    print(f"Site: {s.site} (KStars local time = UTC{s.tz_hours:+g} h)")
    procs = [r for r in (s.kstars, s.dbus, s.xvfb) if r is not None] + list(s.children)
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
