"""``ekos-occult rehearse``: tonight's plan, run now on the sandbox, with simulated occultations.

Parses the flags, calls :func:`ekos_occult.app.rehearse.rehearse` and prints each event
(aligned, recorded, injected vs measured D/R) as text or ``--json``. Exit 0 only when every
event was recorded and both edges were timed within one frame.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ekos_occult.cli import values
from ekos_occult.cli.options import (
    add_bus_option,
    add_kstars_version_option,
    add_kstarsrc_option,
    add_out_option,
    add_prediction_options,
    add_rule_options,
    add_site_option,
    out_dir,
    plan_options,
    say,
)
from ekos_occult.settings import Settings

if TYPE_CHECKING:
    from ekos_occult.app.rehearse import RehearsalDone

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "rehearse"
HELP = (
    "rehearse the night on the sandbox now: the scheduled events re-timed to start in a few "
    "minutes, one simulated occultation each, the night run as `run` runs it (Align included), "
    "every recording reduced; prints injected vs measured D/R"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan's arguments (as for ``run``), the sandbox and the rehearsal's own."""
    parser.add_argument(
        "events",
        metavar="CSV",
        type=values.input_path,
        help="the night's events CSV or occelmnt predictions (as for `run`)",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        dest="skip_invalid",
        help="plan the valid rows and ignore the invalid ones",
    )
    parser.set_defaults(now=None)
    add_site_option(parser)
    add_rule_options(parser)
    add_prediction_options(parser)
    add_bus_option(parser)
    add_kstars_version_option(parser)
    add_kstarsrc_option(parser)
    add_out_option(
        parser,
        "the rehearsal's night folder (default: <user data dir>/ekos-occult/nights/"
        "rehearsal-<UTC now>)",
    )
    g = parser.add_argument_group("rehearsal")
    g.add_argument(
        "--start-in",
        type=values.seconds(0.0, 3600.0),
        default=120.0,
        dest="start_in",
        metavar="SECONDS",
        help="the first event's Ekos job starts this long from now (default 120)",
    )
    g.add_argument(
        "--roi",
        metavar="X,Y,W,H",
        type=values.roi,
        help="record this subframe (default: [capture] frame from the config, else full frame)",
    )
    g.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document: events with name, file, aligned, outcome, truth {D, R} "
        "and measured {D, R} (ISO UTC)",
    )


def _roi(
    value: tuple[int, int, int, int] | None, default: tuple[int, ...] | list[int] | None
) -> tuple[int, int, int, int] | None:
    """``--roi`` (already checked), else the config's ``[capture] frame``; None: full frame."""
    if value is not None or default is None:
        return value
    return (int(default[0]), int(default[1]), int(default[2]), int(default[3]))


def _print_text(done: RehearsalDone) -> None:
    print(f"Rehearsal: {len(done.events)} event(s); night folder {done.night}")
    for ev in done.events:
        rep = ev.to_json()
        print(
            f"{rep['name']}: {'aligned' if rep['aligned'] else 'NOT aligned'}, "
            f"{rep['outcome']}" + (f" ({rep['reason']})" if rep["reason"] else "")
        )
        if rep["file"]:
            print(f"  file      {rep['file']}")
        for edge in ("D", "R"):
            s, f = rep["difference_s"][edge], rep["difference_frames"][edge]
            diff = "not measured" if s is None else f"{s:+.3f} s = {f:+.2f} frames"
            print(
                f"  {edge}  injected {rep['truth'][edge]}  measured {rep['measured'][edge]}  "
                f"({diff})"
            )
        print(f"  timestamps: INDI's (host write time); {rep['timestamps']}")
        if rep["note"]:
            print(f"  note: {rep['note']}")
        frame = f"one frame ({rep['frame_s']:g} s)"
        if rep["frame_s"] != rep["exposure_s"]:
            frame += f"; the camera drew its {rep['exposure_s']:g} s exposures that far apart"
        print(f"  {'OK: timed within' if rep['timed'] else 'NOT timed within'} {frame}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Rehearse the night on the sandbox. Returns 0 only when every event was recorded and
    timed within one frame, else 1.

    Raises:
        ConfigError: a bus that is not the sandbox's, a sandbox without stars, bad options.
        CsvFormatError: problems in the events file.
        EkosError: the sandbox's KStars not reachable or not ready.
    """
    from ekos_occult.app.rehearse import RehearseRequest, rehearse
    from ekos_occult.views.nightview import LineSink

    request = RehearseRequest(
        plan_options(args),
        out_dir=out_dir(args),
        bus=args.bus,
        kstarsrc=args.kstarsrc,
        roi=_roi(args.roi, settings.capture.frame),
        start_in_s=args.start_in,
    )
    # The night's own lines go to stderr, so that --json leaves stdout to the result.
    done = rehearse(
        request, settings, lambda text: say(NAME, text), lambda now: [LineSink(sys.stderr)]
    )
    if done.journal_failure:
        say(NAME, f"warning: the journal could not be written: {done.journal_failure}")
    if args.json:
        doc: dict[str, Any] = {"night": str(done.night), "ok": done.ok}
        print(json.dumps({**doc, "events": [e.to_json() for e in done.events]}, indent=2))
    else:
        _print_text(done)
    return 0 if done.ok else 1
