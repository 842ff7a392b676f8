"""``ekos-occult run``: the unattended night: Ekos runs each event's job, we record each event.

Parses the arguments into :class:`~ekos_occult.app.night.RunRequest`, calls
:func:`~ekos_occult.app.night.run_night` with the live view (a terminal), log lines or JSON lines
(``--json-log``) as observers, and prints how each event ended. Exit 0 when no event failed, 1
otherwise; Ctrl-C or SIGTERM stops any recording cleanly and closes the journal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

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
from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY, JOURNAL
from ekos_occult.errors import ConfigError

if TYPE_CHECKING:
    from ekos_occult.app.night import DryRun, NightDone
    from ekos_occult.night.ports import JournalSink
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "parse_roi", "run"]

NAME = "run"
HELP = (
    "supervise the night: Ekos runs each event's job (slew, track, control frame), then the "
    "camera's video stream is recorded over the event window and the SER file checked"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` command's arguments: the plan's, plus bus, folder and night options."""
    parser.add_argument(
        "events",
        metavar="CSV|FOLDER",
        type=values.input_path,
        help="the nightly events CSV (columns as for `ekos-occult plan`) or "
        "occelmnt predictions (an XML file or a folder of them), or a "
        f"night folder of an earlier run (its {EVENTS_COPY}) to carry on",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        dest="skip_invalid",
        help="plan the valid rows and ignore the invalid ones",
    )
    parser.set_defaults(now=None)  # the night runs on the real clock
    add_site_option(parser)
    add_rule_options(parser)
    add_prediction_options(parser)
    add_bus_option(parser)
    add_kstars_version_option(parser)
    add_kstarsrc_option(parser)
    add_out_option(
        parser,
        "the night folder: jobs, recordings, journal.jsonl (default: the "
        "FOLDER given, else <out_dir from the config>/<night>, else <user data dir>/"
        "ekos-occult/nights/<night>)",
    )
    g = parser.add_argument_group("night")
    g.add_argument(
        "--json-log",
        action="store_true",
        dest="json_log",
        help="one JSON line per journal entry on stdout (systemd), no live view",
    )
    g.add_argument(
        "--dry-run",
        action="store_true",
        dest="dry_run",
        help="print what would be done and when; nothing is sent to Ekos or written",
    )
    g.add_argument(
        "--start-ekos",
        action="store_true",
        dest="start_ekos",
        help="open Ekos and start the configured profile if it is not running",
    )
    g.add_argument(
        "--roi",
        metavar="X,Y,W,H",
        type=values.roi,
        help="record this subframe (pixels) instead of "
        "the full frame (default: [capture] frame from the config, else full frame)",
    )


def parse_roi(
    value: str | tuple[int, int, int, int] | None, default: Sequence[int] | None = None
) -> tuple[int, int, int, int] | None:
    """``--roi`` (read by :func:`ekos_occult.cli.values.roi`, or its text), else the config's
    frame; None means full frame.

    Raises:
        ConfigError: not four whole numbers, or an empty width/height.
    """
    if value is None:
        return (
            None
            if default is None
            else (int(default[0]), int(default[1]), int(default[2]), int(default[3]))
        )
    if isinstance(value, tuple):
        return value
    try:
        return values.roi(value)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--roi: {exc}.") from None


def _observers(json_log: bool) -> Callable[[Callable[[], datetime]], list[JournalSink]]:
    """The sinks fed every journal entry: JSON lines, a live view (terminal) or log lines."""

    def make(now: Callable[[], datetime]) -> list[JournalSink]:
        from ekos_occult.views.nightview import LineSink, LiveView

        if json_log:
            return [LineSink(sys.stdout, json_lines=True)]
        if sys.stdout.isatty():
            from rich.console import Console

            return [LiveView(Console(), now)]
        return [LineSink(sys.stdout)]

    return make


def _print_dry_run(dry: DryRun) -> None:
    print(f"Dry run: night folder {dry.night} (nothing is sent to Ekos or written).")
    for ev in dry.events:
        if ev.skipped is not None:
            print(f"  {ev.name}: skipped ({ev.skipped}) {ev.detail}".rstrip())
            continue
        print(f"  {ev.name}:")
        for when, what in ev.steps:
            print(f"    {when:%H:%M:%S} {what}")


def _report(done: NightDone) -> int:
    results = done.results
    failed = [r for r in results if r.outcome.value == "failed"]
    print(
        f"Night done: {len(results)} event(s), {len(failed)} failed; journal "
        f"{done.night / JOURNAL}",
        file=sys.stderr,
    )
    for r in results:
        why = f" ({r.reason.value}: {r.detail})" if r.reason else ""
        print(
            f"  {r.name}: {r.outcome.value}{why}" + (f" -> {r.file}" if r.file else ""),
            file=sys.stderr,
        )
    if done.journal_failure:
        print(f"ekos-occult run: error: {done.journal_failure}", file=sys.stderr)
    return 1 if failed or done.journal_failure else 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, check, render and supervise the night. Returns 0 when no event failed, else 1.

    Raises:
        ConfigError: bad options, or KStars settings that would end the night.
        CsvFormatError: problems in the events file.
        EkosError: KStars/Ekos not reachable or not ready.
        RecordingError: the night folder or journal cannot be used.
    """
    from ekos_occult.app.night import DryRun, RunRequest, run_night

    request = RunRequest(
        plan_options(args),
        out_dir=out_dir(args),
        bus=args.bus,
        kstarsrc=args.kstarsrc,
        start_ekos=args.start_ekos,
        dry_run=args.dry_run,
        roi=parse_roi(args.roi, settings.capture.frame),
    )
    outcome = run_night(request, settings, lambda text: say(NAME, text), _observers(args.json_log))
    if isinstance(outcome, DryRun):
        _print_dry_run(outcome)
        return 0
    return _report(outcome)
