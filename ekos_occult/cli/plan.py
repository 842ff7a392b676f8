"""``ekos-occult plan``: read the nightly events CSV and print the plan (table or JSON).

Also home of :func:`build_plan` and :func:`add_plan_arguments`, which ``render``, ``load`` and
``run`` reuse so every command plans the same way.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.cli import options
from ekos_occult.cli.options import (
    add_now_option,
    add_rule_options,
    add_site_option,
    parse_now,
)
from ekos_occult.cli.predictions import add_prediction_options
from ekos_occult.errors import ConfigError, CsvFormatError, CsvProblem, InputError

if TYPE_CHECKING:
    from ekos_occult.model import Plan
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "add_plan_arguments", "build_plan", "run"]

NAME = "plan"
HELP = (
    "Read the nightly events CSV and decide what can be recorded: each event scheduled or "
    "skipped (past, sun, altitude, conflict), with its Ekos job start and exposure."
)

_EVENTS_HELP = (
    "the nightly events CSV ('-' reads standard input). Columns (case-insensitive): "
    "name,ra,dec,start,duration,mag - RA/Dec in decimal degrees (J2000) or sexagesimal "
    "(08:20:54.1 = hours for RA, -06:12:00), or ra_h in decimal hours; start = UTC recording "
    "start, or epoch/time = predicted central time (the recording is centred on it); duration "
    "in seconds. Optional: priority, exposure, event_duration, asteroid, id. Timestamps are "
    "ISO 8601: without an offset they are UTC, with an offset they are converted to UTC. "
    "Or Occult/OccultWatcher occelmnt predictions: an XML file (or a folder of them), each "
    "event centred on this station's local central time (see `ekos-occult predictions`)."
)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the events file, ``--now``, ``--skip-invalid``, ``--site`` and the rule options."""
    parser.add_argument("events", metavar="EVENTS.csv", help=_EVENTS_HELP)
    add_now_option(parser)
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        dest="skip_invalid",
        help="plan the valid rows and list the invalid ones (status 'invalid') "
        "instead of stopping with the list of problems",
    )
    add_site_option(parser)
    add_rule_options(parser)
    add_prediction_options(parser)


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
        type=options.output_file(".png"),
        help="also write the night's altitude chart (PNG)",
    )


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"Cannot read the events file {path}: {exc.strerror or exc}.") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFormatError(
            [
                CsvProblem(
                    path,
                    line,
                    None,
                    f"byte 0x{data[exc.start]:02x} is not UTF-8 text: save the file as UTF-8 CSV",
                )
            ],
        ) from exc


def build_plan(args: argparse.Namespace, settings: Settings) -> Plan:
    """Read ``args.events`` and plan it with the settings' site and rules.

    Args:
        args: parsed arguments with ``events``, ``now`` and ``skip_invalid``
            (see :func:`add_plan_arguments`).
        settings: the resolved settings (site, rules).

    Returns:
        The plan; ``Plan.warnings`` holds sentences for stderr (e.g. ignored columns).

    Raises:
        ConfigError: no site, or a bad ``--now``.
        InputError: the events file cannot be read.
        CsvFormatError: the events file has problems (all of them listed).
        PredictionFormatError: an occelmnt file (``*.xml``, a folder, or text starting
            ``<Occultations>``) cannot be read.
    """
    import dataclasses

    from ekos_occult.plan.catalog import read_events
    from ekos_occult.plan.planner import make_plan

    site = settings.require_site()
    now = parse_now(getattr(args, "now", None))
    if now is None:
        from ekos_occult.clock import SystemClock

        now = SystemClock().now()
    path = str(args.events)
    name = "<stdin>" if path == "-" else path
    from ekos_occult.cli import predictions as occelmnt_input

    if occelmnt_input.is_prediction_path(path):
        feed = occelmnt_input.read_prediction_files(path)
        return occelmnt_input.plan_predictions(feed, args, site, now, settings)
    text = _read_text(path)
    from ekos_occult.plan.occelmnt import is_occelmnt_text, read_occelmnt

    if is_occelmnt_text(text):
        return occelmnt_input.plan_predictions(read_occelmnt(text, name), args, site, now, settings)
    catalog = read_events(text, name, skip_invalid=bool(getattr(args, "skip_invalid", False)))
    plan = make_plan(catalog.events, site, now, settings.rules, invalid=catalog.invalid)
    return dataclasses.replace(
        plan,
        warnings=catalog.warnings
        + plan.warnings
        + occelmnt_input.csv_ignores_prediction_options(args),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, optionally write the chart, print the table or JSON. Returns 0."""
    from ekos_occult.views import planview

    plot_path: Path | None = args.plot
    if plot_path is not None and plot_path.suffix.lower() != ".png":
        raise ConfigError(f"--plot: {plot_path} must end in .png (the chart is a PNG image).")
    plan = build_plan(args, settings)
    if plot_path is not None:
        from ekos_occult.files import write_bytes_atomic
        from ekos_occult.views.altitudeplot import altitude_chart_png

        write_bytes_atomic(plot_path, altitude_chart_png(plan), "--plot")
    for warning in plan.warnings:
        print(f"ekos-occult plan: warning: {warning}", file=sys.stderr)
    if args.json:
        sys.stdout.writelines(planview.iter_plan_json(plan))  # compact, one event at a time
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((160, 24)).columns if tty else 160
        sys.stdout.write(
            planview.render_table(plan, width=width, color=tty, show_all=args.show_all)
        )
    return 0
