"""``ekos-occult predictions``: occelmnt predictions at this station (table, JSON, path map).

Also home of what ``plan``/``render``/``load``/``run`` need to take an occelmnt file or folder
instead of the CSV: :func:`is_prediction_path`, :func:`read_prediction_files`,
:func:`add_prediction_options`, :func:`prediction_options` and :func:`plan_predictions`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ekos_occult.cli import options
from ekos_occult.cli.options import add_site_option
from ekos_occult.errors import ConfigError, InputError, PredictionFormatError

if TYPE_CHECKING:
    from ekos_occult.model import Plan, Site
    from ekos_occult.plan.occelmnt import Feed
    from ekos_occult.plan.predictions import PredictedEvents, PredictionOptions, StationEvent
    from ekos_occult.settings import Settings

__all__ = [
    "NAME",
    "HELP",
    "add_arguments",
    "add_prediction_options",
    "prediction_options",
    "is_prediction_path",
    "read_prediction_files",
    "plan_predictions",
    "csv_ignores_prediction_options",
    "station_event_to_dict",
    "merged_occelmnt_text",
    "run",
]

NAME = "predictions"
HELP = (
    "Read Occult/OccultWatcher occelmnt predictions (XML file or folder) and show each event "
    "at this station: local central time, chord offset, in path / 1-sigma, star and Sun, "
    "shadow speed, duration and recording window; optionally a map of the path."
)


def add_prediction_options(parser: argparse.ArgumentParser) -> None:
    """``--max-offset``, ``--path-sigmas`` and ``--time-uncertainty`` (occelmnt input only)."""
    g = parser.add_argument_group("occelmnt predictions (when the events file is occelmnt XML)")
    g.add_argument(
        "--max-offset",
        type=options.number(0.0, 50000.0, " km", name="distance in km"),
        metavar="KM",
        dest="max_offset_km",
        help="keep only events whose centre line passes within KM of the station",
    )
    g.add_argument(
        "--path-sigmas",
        type=options.number(0.0, 100.0, "", name="number of sigmas"),
        metavar="N",
        dest="path_sigmas",
        help="keep only events whose path, widened by N times its 1-sigma "
        "uncertainty on each side, covers the station",
    )
    g.add_argument(
        "--time-uncertainty",
        type=options.seconds(0.0, 86400.0),
        metavar="SECONDS",
        dest="time_uncertainty_s",
        help="1-sigma uncertainty of the central time for the recording window "
        "(default: from the file's position uncertainty and the shadow speed)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``predictions`` command's arguments."""
    parser.add_argument(
        "file",
        metavar="FILE.xml",
        help="an occelmnt XML file, a folder of them, or '-' for standard input",
    )
    add_site_option(parser)
    add_prediction_options(parser)
    parser.add_argument(
        "--event",
        metavar="TEXT",
        type=options.text,
        help="only events whose ID or object name contains TEXT",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--map",
        metavar="FILE.png",
        type=options.output_file(".png"),
        dest="map_path",
        help="write a map of the event's shadow path around the station "
        "(one event: choose it with --event when the file holds several)",
    )


def prediction_options(args: argparse.Namespace) -> PredictionOptions:
    """The options from parsed arguments. Raises ConfigError for a negative value."""
    from ekos_occult.plan.predictions import PredictionOptions

    try:
        return PredictionOptions(
            getattr(args, "max_offset_km", None),
            getattr(args, "path_sigmas", None),
            getattr(args, "time_uncertainty_s", None),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def is_prediction_path(path: str) -> bool:
    """A folder, or a file named ``*.xml``: read as occelmnt predictions."""
    p = Path(path)
    return path != "-" and (p.is_dir() or p.suffix.lower() == ".xml")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"Cannot read the predictions file {path}: {exc.strerror or exc}."
        ) from exc


def read_prediction_files(path: str) -> Feed:
    """Read an occelmnt file, or every ``*.xml`` in a folder (name order), or standard input.

    In a folder, a file that cannot be read is a warning while others can; an event ID seen in
    several files is kept once, from the newest prediction (``ID`` field 1).

    Raises:
        InputError: the path cannot be read, or a folder holds no XML file.
        PredictionFormatError: no event can be read at all.
    """
    from ekos_occult.plan.occelmnt import Feed, read_occelmnt

    if path == "-":
        return read_occelmnt(sys.stdin.buffer.read(), "<stdin>")
    root = Path(path)
    if not root.is_dir():
        return read_occelmnt(_read_bytes(root), path)
    files = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() == ".xml")
    if not files:
        raise InputError(f"The folder {path} holds no .xml occelmnt file.")
    feeds, problems = [], []
    for f in files:
        try:
            feeds.append(read_occelmnt(_read_bytes(f), str(f)))
        except PredictionFormatError as exc:
            problems.append(f"{exc} (file skipped)")
    if not feeds:
        raise PredictionFormatError("\n".join(problems))
    newest: dict[str, Any] = {}
    warnings = [w for feed in feeds for w in feed.warnings] + problems
    for p in (p for feed in feeds for p in feed.predictions):
        seen = newest.get(p.event_id)
        if seen is None or (p.prediction_mjd or 0.0) > (seen.prediction_mjd or 0.0):
            if seen is not None:
                warnings.append(f"{p.event_id}: in {seen.path} and {p.path}; using {p.path}")
            newest[p.event_id] = p
        else:
            warnings.append(f"{p.event_id}: in {seen.path} and {p.path}; using {seen.path}")
    return Feed(tuple(newest.values()), tuple(warnings))


def _filtered_note(predicted: PredictedEvents) -> tuple[str, ...]:
    dropped = [i for i in predicted.items if not i.kept and i.event is not None]
    if not dropped:
        return ()
    return (
        f"{len(dropped)} of {len(predicted.items)} predicted event(s) left out of the plan: "
        + "; ".join(f"{i.event.name}: {i.reason}" for i in dropped if i.event is not None),
    )


def csv_ignores_prediction_options(args: argparse.Namespace) -> tuple[str, ...]:
    """A warning when prediction options were given for a CSV (they do not apply)."""
    given = [
        flag
        for flag, dest in (
            ("--max-offset", "max_offset_km"),
            ("--path-sigmas", "path_sigmas"),
            ("--time-uncertainty", "time_uncertainty_s"),
        )
        if getattr(args, dest, None) is not None
    ]
    if not given:
        return ()
    return (f"{', '.join(given)} only apply to occelmnt predictions: ignored for a CSV",)


def plan_predictions(
    feed: Feed, args: argparse.Namespace, site: Site, now: datetime, settings: Settings
) -> Plan:
    """Plan occelmnt predictions like CSV events (used by ``build_plan``)."""
    from ekos_occult.plan.planner import make_plan
    from ekos_occult.plan.predictions import events_from_predictions

    predicted = events_from_predictions(feed.predictions, site, prediction_options(args))
    plan = make_plan(predicted.events, site, now, settings.rules)
    warnings = feed.warnings + predicted.warnings + _filtered_note(predicted) + plan.warnings
    return dataclasses.replace(plan, warnings=warnings)


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def station_event_to_dict(item: StationEvent) -> dict[str, Any]:
    """One prediction at the station as JSON-ready values (times ISO 8601 UTC)."""
    p, g, e = item.prediction, item.geometry, item.event
    info = None if e is None else e.prediction
    return {
        "name": p.asteroid if e is None else e.name,
        "event_id": p.event_id,
        "file": p.path,
        "index": p.index,
        "star": p.star.star_id,
        "closest_approach": p.elements.closest_approach.isoformat(),
        "central_time": g.central_time.isoformat(),
        "chord_offset_km": round(g.offset_km, 3),
        "side": g.side,
        "in_path": g.in_path,
        "in_1sigma": g.in_1sigma,
        "sigma_path_km": _round(g.sigma_path_km),
        "star_alt_deg": round(g.star_alt_deg, 2),
        "star_az_deg": round(g.star_az_deg, 2),
        "sun_alt_deg": round(g.sun_alt_deg, 2),
        "shadow_speed_km_s": round(g.relative_speed_km_s, 3),
        "plane_speed_km_s": round(g.shadow_speed_km_s, 3),
        "max_duration_s": round(g.max_duration_s, 3),
        "chord_duration_s": round(g.chord_duration_s, 3),
        "file_max_duration_s": g.file_max_duration_s,
        "check_duration_s": round(g.check_duration_s, 3),
        "time_uncertainty_s": None if info is None else round(info.time_uncertainty_s, 3),
        "record_start": None if e is None else e.record_start.isoformat(),
        "record_end": None if e is None else e.record_end.isoformat(),
        "exposure_s": _round(item.exposure_s, 6),
        "mag": None if e is None else e.mag,
        "mag_drop": None if info is None else info.mag_drop,
        "small_drop": None if info is None else info.small_drop,
        "kept": item.kept,
        "reason": item.reason,
        "warnings": list(g.warnings),
    }


def _select(items: tuple[StationEvent, ...], text: str | None) -> tuple[StationEvent, ...]:
    if not text:
        return items
    low = text.lower()
    chosen = tuple(
        i
        for i in items
        if low in i.prediction.event_id.lower() or low in i.prediction.asteroid.lower()
    )
    if not chosen:
        raise ConfigError(f"--event {text!r}: no event ID or object name contains it.")
    return chosen


def _write_map(path: Path, items: tuple[StationEvent, ...], site: Site) -> None:
    from ekos_occult.files import write_bytes_atomic
    from ekos_occult.views.pathmap import path_map_png

    if path.suffix.lower() != ".png":
        raise ConfigError(f"--map: {path} must end in .png (the map is a PNG image).")
    kept = tuple(i for i in items if i.kept)
    if len(kept) != 1:
        names = ", ".join(f"{i.prediction.event_id} {i.prediction.asteroid}" for i in kept)
        raise ConfigError(
            f"--map draws one event, and {len(kept)} are selected ({names}): "
            "choose one with --event."
        )
    write_bytes_atomic(path, path_map_png(kept[0].prediction, kept[0].geometry, site), "--map")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Compute the predictions at the site; print the table or JSON; write the map. Returns 0."""
    from ekos_occult.plan.predictions import events_from_predictions
    from ekos_occult.views.predictionview import render_table

    site = settings.require_site()
    feed = read_prediction_files(str(args.file))
    predicted = events_from_predictions(feed.predictions, site, prediction_options(args))
    items = tuple(
        sorted(_select(predicted.items, args.event), key=lambda i: i.geometry.central_time)
    )
    if args.map_path is not None:
        _write_map(args.map_path, items, site)
    for warning in feed.warnings + predicted.warnings:
        print(f"ekos-occult predictions: warning: {warning}", file=sys.stderr)
    if args.json:
        doc = {
            "site": {
                "lat_deg": site.lat_deg,
                "lon_deg": site.lon_deg,
                "elevation_m": site.elevation_m,
            },
            "events": [station_event_to_dict(i) for i in items],
            "warnings": list(feed.warnings + predicted.warnings),
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((200, 24)).columns if tty else 200
        sys.stdout.write(render_table(items, site, width=width, color=tty))
    return 0


def merged_occelmnt_text(path: str) -> str:
    """One occelmnt document holding every readable event of a file or folder.

    ``run`` keeps it in the night folder so that a restarted night plans the same events.
    (``Orbit``/``Moons`` elements are not kept: planning does not use them.)
    """
    from lxml import etree

    root = etree.Element("Occultations")
    for p in read_prediction_files(path).predictions:
        event = etree.SubElement(root, "Event")
        for tag, text in p.raw:
            if text:
                etree.SubElement(event, tag).text = text
    return str(etree.tostring(root, pretty_print=True, encoding="unicode"))
