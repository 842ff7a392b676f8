"""``ekos-occult run``: the unattended night: Ekos runs each event's job, we record each event.

Plans the events (CSV, or a night folder of an earlier run, which keeps ``events.csv``), checks
that KStars' settings will not end the night after the first event, makes sure Ekos is ready,
renders one single-job .esl per event into the night folder and supervises the night with
:class:`~ekos_occult.night.runner.NightRunner` on the system clock: recordings under
``<out>/recordings``, the journal at ``<out>/journal.jsonl`` (a restarted run skips what is
already recorded). Ctrl-C or SIGTERM stops any recording cleanly and closes the journal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ekos_occult.cli import options
from ekos_occult.cli.check import add_kstarsrc_option, kstarsrc_path
from ekos_occult.cli.options import (
    add_bus_option,
    add_kstars_version_option,
    add_out_option,
    add_rule_options,
    add_site_option,
)
from ekos_occult.cli.plan import build_plan
from ekos_occult.cli.predictions import add_prediction_options
from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY, keep_events, night_dir
from ekos_occult.errors import ConfigError

if TYPE_CHECKING:
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.preflight import ReadyReport
    from ekos_occult.model import Plan, PlannedEvent
    from ekos_occult.night.ekosport import KStarsLink
    from ekos_occult.night.ports import JournalSink
    from ekos_occult.night.runner import EventResult
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "EVENTS_COPY", "add_arguments", "parse_roi", "run"]

NAME = "run"
HELP = (
    "Supervise the night: Ekos runs each event's job (slew, track, control frame), then the "
    "camera's video stream is recorded over the event window and the SER file checked."
)
RECORDINGS = "recordings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``run`` command's arguments: the plan's, plus bus, folder and night options."""
    parser.add_argument(
        "events",
        metavar="CSV|FOLDER",
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
        type=options.roi,
        help="record this subframe (pixels) instead of "
        "the full frame (default: [capture] frame from the config, else full frame)",
    )


def parse_roi(
    value: str | tuple[int, int, int, int] | None, default: Sequence[int] | None = None
) -> tuple[int, int, int, int] | None:
    """``--roi`` (read by :func:`ekos_occult.cli.options.roi`, or its text), else the config's
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
        return options.roi(value)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--roi: {exc}.") from None


def _events_and_folder(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """The events file to plan, and the night folder when one was given instead of a CSV."""
    given = Path(args.events).expanduser()
    if str(args.events) == "-":
        raise ConfigError(
            "run needs an events file (not '-'): the night folder keeps a copy "
            "of it so that a restarted run can carry on."
        )
    if not given.is_dir():
        return given, None
    csv = given / EVENTS_COPY
    if not csv.is_file() and any(f.suffix.lower() == ".xml" for f in given.iterdir()):
        return given, None  # a folder of occelmnt predictions
    if not csv.is_file():
        raise ConfigError(
            f"{given} is a folder without {EVENTS_COPY}: give the events CSV "
            f"(run keeps a copy as {EVENTS_COPY} in the night folder it writes)."
        )
    return csv, given.absolute()


def _refuse_night_enders(args: argparse.Namespace, settings: Settings, bus: str) -> None:
    """Stop before anything happens when KStars' settings would end the night after one job."""
    from ekos_occult.kstars.rigcheck import kstars_settings_checks, night_ending, read_kstarsrc

    path = kstarsrc_path(args, settings, bus)
    try:
        enders = night_ending(kstars_settings_checks(read_kstarsrc(path), path))
    except OSError as exc:
        raise ConfigError(
            f"Cannot read KStars' settings {path}: {exc}; give --kstarsrc PATH."
        ) from exc
    if enders:
        lines = "\n".join(f"  {c.detail}\n  fix: {c.fix}" for c in enders)
        raise ConfigError(
            "KStars' settings would end the night after the first event:\n"
            f"{lines}\n(`ekos-occult check` lists every setting.)"
        )


def _write_jobs(
    plan: Plan, settings: Settings, report: ReadyReport, night: Path
) -> dict[str, Path]:
    """Render and write one single-job .esl (and its .esq) per scheduled event."""
    from ekos_occult.ekosfiles.render import render_single_job
    from ekos_occult.files import write_night

    paths: dict[str, Path] = {}
    for ev in plan.scheduled:
        rendered = render_single_job(
            plan, settings, ev, version=report.file_format, night_dir=night, tz=report.tz
        )
        paths[ev.name] = write_night(rendered)[-1]
    return paths


def _sinks(args: argparse.Namespace, now: Any) -> list[JournalSink]:
    from ekos_occult.views.nightview import LineSink, LiveView

    if args.json_log:
        return [LineSink(sys.stdout, json_lines=True)]
    if sys.stdout.isatty():
        from rich.console import Console

        return [LiveView(Console(), now)]
    return [LineSink(sys.stdout)]


async def _ready(client: EkosClient, settings: Settings, start_ekos: bool) -> ReadyReport:
    from ekos_occult.kstars.preflight import ensure_ekos_ready

    return await ensure_ekos_ready(client, settings, start_ekos=start_ekos)


async def _night(
    args: argparse.Namespace,
    settings: Settings,
    plan: Plan,
    link: KStarsLink,
    csv: Path,
    night: Path,
) -> tuple[list[EventResult], str | None]:
    """Everything that needs Ekos: readiness, job files, the supervised night.

    Returns how each event ended and what failed writing the journal (None: nothing).
    """
    from ekos_occult.clock import SystemClock
    from ekos_occult.night.ekosport import DBusEkosPort
    from ekos_occult.night.journal import JOURNAL_NAME, Journal, read_journal
    from ekos_occult.night.recorder import IndiStreamRecorder, check_record_directory
    from ekos_occult.night.records import Limits
    from ekos_occult.night.runner import NightRunner

    clock = SystemClock()
    report = await _ready(await link.open(), settings, args.start_ekos)
    link.version = report.file_format
    _print_ready(report)
    check_record_directory(night / RECORDINGS)
    keep_events(csv, night)
    job_files = _write_jobs(plan, settings, report, night)
    port = DBusEkosPort(
        link, report.camera, clock, on_reattach=lambda c: _ready(c, settings, args.start_ekos)
    )
    await port.subscribe()
    recorder = IndiStreamRecorder(
        lambda: link.client, report.camera, timeout_s=settings.ekos.call_timeout_s
    )
    journal = Journal(night / JOURNAL_NAME, now=clock.now).open()  # cuts off a torn tail
    previous = read_journal(night / JOURNAL_NAME)
    runner = NightRunner(
        plan,
        ekos=port,
        recorder=recorder,
        clock=clock,
        journal=journal,
        job_files=job_files,
        recordings_dir=night / RECORDINGS,
        limits=Limits.from_settings(settings.run),
        roi=parse_roi(args.roi, settings.capture.frame),
        previous=previous,
        observers=_sinks(args, clock.now),
    )
    try:
        return await _cancellable(runner.run()), journal.failure
    finally:
        journal.close()  # never raises; the runner closed it already unless it crashed
        await port.close()


async def _cancellable(coro: Any) -> list[EventResult]:
    """Run the night; SIGTERM cancels it like Ctrl-C (the runner then stops cleanly)."""
    import asyncio
    import signal

    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError):  # not the main thread (tests)
        pass
    try:
        result: list[EventResult] = await task
        return result
    finally:
        try:
            loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError):
            pass


def _print_ready(report: ReadyReport) -> None:
    print(
        f"Ekos ready: {report.version_text}; camera {report.camera}; KStars local time "
        f"UTC{report.location.tz_hours:+g} h.",
        file=sys.stderr,
    )
    for note in report.notes:
        print(f"ekos-occult run: note: {note}", file=sys.stderr)


def _dry_run(plan: Plan, night: Path, roi: tuple[int, int, int, int] | None) -> None:
    from ekos_occult.night.records import Limits
    from ekos_occult.night.runner import make_job, recording_request

    lim = Limits()
    print(f"Dry run: night folder {night} (nothing is sent to Ekos or written).")
    for ev in plan.events:
        if not ev.is_scheduled:
            reason = ev.reason.value if ev.reason else ev.status.value
            print(f"  {ev.name}: skipped ({reason}) {ev.detail}".rstrip())
            continue
        job = make_job(ev, night / "jobs" / "<job>.esl")
        req = recording_request(job, night / RECORDINGS, roi)
        print(f"  {ev.name}:")
        for when, what in _steps(ev, req.stem, req.duration_s, lim.stream_preroll_s, roi):
            print(f"    {when:%H:%M:%S} {what}")


def _steps(
    ev: PlannedEvent,
    stem: str,
    duration_s: float,
    preroll_s: float,
    roi: tuple[int, int, int, int] | None,
) -> list[tuple[Any, str]]:
    from datetime import timedelta

    from ekos_occult.night.recorder import record_file_name

    start, end = ev.event.record_start, ev.event.record_end
    frame = "full frame" if roi is None else "ROI {},{} {}x{}".format(*roi)
    return [
        (
            ev.job_start,
            "load this event's one-job .esl into the idle scheduler and start it "
            "(Ekos slews, tracks, takes the control frame)",
        ),
        (
            start - timedelta(seconds=preroll_s),
            f"stream on: {ev.exposure_s:g} s exposures, "
            f"{frame}, file {RECORDINGS}/{record_file_name(stem)} (INDI adds the time)",
        ),
        (start, f"record {duration_s:g} s (scheduler idle, capture idle, mount tracking)"),
        (end, "stream off; check the SER: frames, timestamps, gaps; journal the outcome"),
    ]


def _report(outcome: tuple[Sequence[EventResult], str | None], night: Path) -> int:
    results, journal_failure = outcome
    failed = [r for r in results if r.outcome.value == "failed"]
    print(
        f"Night done: {len(results)} event(s), {len(failed)} failed; journal "
        f"{night / 'journal.jsonl'}",
        file=sys.stderr,
    )
    for r in results:
        why = f" ({r.reason.value}: {r.detail})" if r.reason else ""
        print(
            f"  {r.name}: {r.outcome.value}{why}" + (f" -> {r.file}" if r.file else ""),
            file=sys.stderr,
        )
    if journal_failure:
        print(f"ekos-occult run: error: {journal_failure}", file=sys.stderr)
    return 1 if failed or journal_failure else 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, check, render and supervise the night. Returns 0 when no event failed, else 1.

    Raises:
        ConfigError: bad options, or KStars settings that would end the night.
        CsvFormatError: problems in the events file.
        EkosError: KStars/Ekos not reachable or not ready.
        RecordingError: the night folder or journal cannot be used.
    """
    import asyncio

    from ekos_occult.ekosfiles.render import night_label
    from ekos_occult.kstars.sandbox import resolve_bus_address
    from ekos_occult.night.ekosport import KStarsLink

    csv, folder = _events_and_folder(args)
    args.events = str(csv)
    plan = build_plan(args, settings)
    for warning in plan.warnings:
        print(f"ekos-occult run: warning: {warning}", file=sys.stderr)
    night = night_dir(args, settings, night_label(plan), folder)
    roi = parse_roi(args.roi, settings.capture.frame)
    if args.dry_run:
        _dry_run(plan, night, roi)
        return 0
    bus = resolve_bus_address(args.bus, os.environ, settings.sandbox_dir)
    _refuse_night_enders(args, settings, bus)
    link = KStarsLink(bus, timeout_s=settings.ekos.call_timeout_s)

    async def night_main() -> tuple[list[EventResult], str | None]:
        try:
            return await _night(args, settings, plan, link, csv, night)
        finally:
            await link.close()

    return _report(asyncio.run(night_main()), night)
