"""``ekos-occult plan``: read the nightly events CSV and print the plan (table or JSON).

Parses the arguments into :class:`~ekos_occult.app.planning.PlanOptions` (shared with
``render``, ``load`` and ``run`` through :mod:`ekos_occult.cli.options`) and calls
:func:`~ekos_occult.app.planning.plan_night`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.cli import values
from ekos_occult.cli.options import add_plan_arguments, plan_options

if TYPE_CHECKING:
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "plan"
HELP = (
    "read the nightly events CSV and decide what can be recorded: each event scheduled or "
    "skipped (past, sun, altitude, conflict), with its Ekos job start and exposure"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``plan`` command's arguments."""
    add_plan_arguments(parser)
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object {"site", "now", "events": [...]} instead of the table',
    )
    parser.add_argument(
        "--all",
        action="store_true",
        dest="show_all",
        help="list every event in the table; by default a plan of more than "
        "100 rows lists its scheduled events only (and says how many it left out)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        type=values.output_file(".png"),
        help="also write the night's altitude chart (PNG)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, optionally write the chart, print the table or JSON. Returns 0."""
    from ekos_occult.app.planning import plan_night
    from ekos_occult.views import planview

    plot_path: Path | None = args.plot
    plan = plan_night(plan_options(args), settings, plot_path)
    for warning in plan.warnings:
        print(f"ekos-occult plan: warning: {warning}", file=sys.stderr)
    if plot_path is not None:
        print(f"Wrote the altitude chart {plot_path}", file=sys.stderr)
    if args.json:
        sys.stdout.writelines(planview.iter_plan_json(plan))  # compact, one event at a time
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((160, 24)).columns if tty else 160
        sys.stdout.write(
            planview.render_table(plan, width=width, color=tty, show_all=args.show_all)
        )
    return 0
