"""``ekos-occult check``: is the rig ready for an unattended night?

KStars/Ekos reachable, devices connected, the camera's stream recording and SER recorder,
KStars settings that would end the night (read from kstarsrc, with the exact change to make),
KStars' location against the site, the system clock's synchronisation and free disk space.
Exit 0 when nothing is a problem (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.cli import options
from ekos_occult.cli.options import add_bus_option, add_out_option, add_site_option

if TYPE_CHECKING:
    from ekos_occult.kstars.rigcheck import Check
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "add_kstarsrc_option", "kstarsrc_path", "run"]

NAME = "check"
HELP = (
    "Check the rig before a night: KStars/Ekos, devices, the camera's video recording, "
    "KStars scheduler settings, site, clock synchronisation and free disk."
)

_FRAMES_PER_S = 10  # the disk check counts minutes of full-frame video at this rate
_MARK = {"ok": "ok", "warning": "WARN", "problem": "FAIL", "unknown": "??"}


def add_kstarsrc_option(parser: argparse.ArgumentParser) -> None:
    """``--kstarsrc PATH`` and ``--state-dir DIR`` (to find a sandbox's kstarsrc)."""
    parser.add_argument(
        "--kstarsrc",
        metavar="PATH",
        type=options.input_file,
        help="KStars' settings file (default: the sandbox's when --bus is a "
        "sandbox's, else $XDG_CONFIG_HOME/kstarsrc, i.e. ~/.config/kstarsrc)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        dest="state_dir",
        type=options.text,
        help="a sandbox's state directory (its bus and kstarsrc are used)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check`` command's arguments."""
    add_bus_option(parser)
    add_site_option(parser)
    add_kstarsrc_option(parser)
    add_out_option(
        parser,
        "where the recordings will go (for the free-disk check; default: "
        "the config's out_dir, else the current folder)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"ok": bool, "checks": [...]} instead of the list',
    )


def kstarsrc_path(args: argparse.Namespace, settings: Settings, bus: str) -> Path:
    """``--kstarsrc``, or the kstarsrc of the KStars on ``bus`` (see rigcheck.default_kstarsrc)."""
    from ekos_occult.kstars.rigcheck import default_kstarsrc
    from ekos_occult.kstars.sandbox import default_state_dir

    if getattr(args, "kstarsrc", None) is not None:
        return Path(args.kstarsrc).expanduser()
    dirs = [d for d in (settings.sandbox_dir, default_state_dir()) if d is not None]
    return default_kstarsrc(bus, dirs, os.environ, Path.home())


def _print(checks: list[Check]) -> None:
    for c in checks:
        print(f"[{_MARK[c.verdict.value]:>4}] {c.name}: {c.detail}")
        if c.fix:
            print(f"       fix: {c.fix}")


async def _kstars_checks(bus: str, settings: Settings) -> tuple[list[Check], int | None]:
    """The checks that ask KStars, and the camera's full-frame size in bytes (None: unknown)."""
    from ekos_occult.errors import EkosError, RecordingError
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.rigcheck import Check, Verdict, check_rig
    from ekos_occult.night.recorder import IndiStreamRecorder

    try:
        async with EkosClient(bus, timeout_s=settings.ekos.call_timeout_s) as client:
            checks = await check_rig(client, camera=settings.ekos.camera, site=settings.site)
            try:
                camera = settings.ekos.camera or await client.camera_name()
                geometry = await IndiStreamRecorder(lambda: client, camera).frame_geometry(None)
            except (EkosError, RecordingError):
                return checks, None
            return checks, geometry.frame_bytes
    except EkosError as exc:
        return [Check("kstars", Verdict.PROBLEM, str(exc))], None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every check and print the verdicts. Returns 0 when nothing is a problem, else 1."""
    import asyncio

    from ekos_occult.errors import EkosUnavailable
    from ekos_occult.kstars.rigcheck import (
        Check,
        Verdict,
        clock_check,
        disk_check,
        kstars_settings_checks,
        read_kstarsrc,
        to_json_ready,
    )
    from ekos_occult.kstars.sandbox import resolve_bus_address
    from ekos_occult.video.diskspace import free_bytes

    checks: list[Check] = []
    frame_bytes: int | None = None
    try:
        bus = resolve_bus_address(args.bus, os.environ, settings.sandbox_dir)
    except EkosUnavailable as exc:
        bus = ""
        checks.append(Check("kstars", Verdict.PROBLEM, str(exc)))
    if bus:
        found, frame_bytes = asyncio.run(_kstars_checks(bus, settings))
        checks += found
    rc_path = kstarsrc_path(args, settings, bus)
    try:
        checks += kstars_settings_checks(read_kstarsrc(rc_path), rc_path)
    except OSError as exc:
        checks.append(Check("kstars settings", Verdict.UNKNOWN, f"cannot read {rc_path}: {exc}"))
    checks.append(clock_check())
    where = (settings.out_dir or Path.cwd()).absolute()
    rate = frame_bytes * _FRAMES_PER_S if frame_bytes else None
    checks.append(disk_check(free_bytes(where), where, rate_bytes_per_s=rate))
    report = to_json_ready(checks)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(checks)
        print("Ready for the night." if report["ok"] else "Not ready: fix the FAIL lines above.")
    return 0 if report["ok"] else 1
