"""``ekos-occult report``: fill the observation reports coordinators take (IOTA-ES/SODIS form,
Occult asteroid-observations XML, plain text) and the light-curve PNG, from a ``reduce --json``
result or a whole night folder.

Thin: parses the flags into a :class:`~ekos_occult.app.report.ReportRequest`, calls
:func:`~ekos_occult.app.report.make_reports` and prints what was written, what the observer
must still fill in, and which events have no report and why.
"""

from __future__ import annotations

import argparse
import sys

from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "report"
HELP = (
    "fill the observation reports (IOTA-ES/SODIS form, Occult XML, text) and the light-curve "
    "PNG from a reduce --json result or a night folder"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register the report flags."""
    from ekos_occult.cli.values import input_file, input_location, output_dir
    from ekos_occult.report import DEFAULT_FORMATS, FORMATS  # not app.report: numpy, jinja2...

    p.add_argument(
        "result",
        metavar="RESULT",
        type=input_location,
        help="what `ekos-occult reduce --json` wrote, or a night folder (one report per "
        "recorded event, from its journal)",
    )
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=FORMATS,
        help=f"a form to write (repeatable; default: {' and '.join(DEFAULT_FORMATS)})",
    )
    p.add_argument(
        "--prediction",
        metavar="OCCELMNT",
        type=input_file,
        help="the Occult occelmnt prediction (star, asteroid, predicted central time and chord "
        "offset at the station); a night folder's events.csv is used when it is one",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=output_dir,
        dest="report_dir",
        help="folder for the reports (default: next to RESULT, or NIGHT/reports)",
    )
    p.add_argument("--no-plot", action="store_true", help="do not write the light-curve PNG")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write the reports; print them and what is left to fill in. Returns 0."""
    from ekos_occult.app.report import DEFAULT_FORMATS, ReportRequest, make_reports
    from ekos_occult.clock import SystemClock

    req = ReportRequest(
        source=args.result,
        formats=tuple(dict.fromkeys(args.formats or DEFAULT_FORMATS)),
        prediction=args.prediction,
        out_dir=args.report_dir,
        plot=not args.no_plot,
    )
    outcome = make_reports(req, settings, SystemClock().now())
    for w in outcome.written:
        r = w.report
        print(f"{w.label}: {r.outcome.value.upper()}")
        for f in w.files:
            print(f"  wrote {f}")
        if r.to_fill:
            print(f"  to fill in: {', '.join(r.to_fill)}")
        for note in w.notes:
            print(f"ekos-occult report: note: {w.label}: {note}", file=sys.stderr)
    for m in outcome.missing:
        print(f"{m.label}: no report: {m.reason}")
    return 0
