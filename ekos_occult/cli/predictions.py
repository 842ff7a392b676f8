"""``ekos-occult predictions``: occelmnt predictions at this station (table, JSON, path map)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import TYPE_CHECKING

from ekos_occult.cli import values
from ekos_occult.cli.options import add_prediction_options, add_site_option, prediction_options

if TYPE_CHECKING:
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "predictions"
HELP = (
    "read Occult/OccultWatcher occelmnt predictions (XML file or folder) and show each event "
    "at this station: local central time, chord offset, in path / 1-sigma, star and Sun, "
    "shadow speed, duration and recording window; optionally a map of the path"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``predictions`` command's arguments."""
    parser.add_argument(
        "file",
        metavar="FILE.xml",
        type=values.input_path,
        help="an occelmnt XML file, a folder of them, or '-' for standard input",
    )
    add_site_option(parser)
    add_prediction_options(parser)
    parser.add_argument(
        "--event",
        metavar="TEXT",
        type=values.text,
        help="only events whose ID or object name contains TEXT",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--map",
        metavar="FILE.png",
        type=values.output_file(".png"),
        dest="map_path",
        help="write a map of the event's shadow path around the station "
        "(one event: choose it with --event when the file holds several)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Compute the predictions at the site; print the table or JSON; write the map. Returns 0."""
    from ekos_occult.app.predictions import PredictionsRequest, station_predictions
    from ekos_occult.views.predictionview import predictions_to_dict, render_table

    request = PredictionsRequest(
        str(args.file), prediction_options(args), args.event, args.map_path
    )
    found = station_predictions(request, settings)
    for warning in found.warnings:
        print(f"ekos-occult predictions: warning: {warning}", file=sys.stderr)
    if args.map_path is not None:
        print(f"Wrote the path map {args.map_path}", file=sys.stderr)
    if args.json:
        doc = predictions_to_dict(found.site, found.items, found.warnings)
        # Compact: indent=2 selects CPython's pure-Python encoder (seconds for a big feed).
        print(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((200, 24)).columns if tty else 200
        sys.stdout.write(render_table(found.items, found.site, width=width, color=tty))
    return 0
