"""``ekos-occult check``: is the rig ready for an unattended night?

Calls :func:`ekos_occult.app.check.check_rig_ready` and prints each verdict (or ``--json``).
Exit 0 when nothing is a problem (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from ekos_occult.cli.options import (
    add_bus_option,
    add_kstarsrc_option,
    add_out_option,
    add_site_option,
)

if TYPE_CHECKING:
    from ekos_occult.kstars.readiness import Check
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "check"
HELP = (
    "check the rig before a night: KStars/Ekos, devices, the camera's video recording, "
    "KStars scheduler settings, site, clock synchronisation and free disk"
)

_MARK = {"ok": "ok", "warning": "WARN", "problem": "FAIL", "unknown": "??"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check`` command's arguments."""
    add_bus_option(parser)
    add_site_option(parser)
    add_kstarsrc_option(parser)
    add_out_option(
        parser,
        "where the recordings will go (for the free-disk check; default: as for run, "
        "the config's out_dir, else <user data dir>/ekos-occult/nights)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"ok": bool, "checks": [...]} instead of the list',
    )


def _print(checks: list[Check]) -> None:
    for c in checks:
        print(f"[{_MARK[c.verdict.value]:>4}] {c.name}: {c.detail}")
        if c.fix:
            print(f"       fix: {c.fix}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run every check and print the verdicts. Returns 0 when nothing is a problem, else 1."""
    from ekos_occult.app import check as use_case
    from ekos_occult.kstars.readiness import to_json_ready

    clock = use_case.default_clock_reader().read()
    request = use_case.CheckRequest(bus=args.bus, kstarsrc=args.kstarsrc, clock=clock)
    checks = use_case.check_rig_ready(request, settings)
    report = to_json_ready(checks)
    report["clock"] = clock.to_dict()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(checks)
        print("Ready for the night." if report["ok"] else "Not ready: fix the FAIL lines above.")
    return 0 if report["ok"] else 1
