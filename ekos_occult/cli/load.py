"""``ekos-occult load``: plan the night, render its Ekos files and load them into the running Ekos.

Parses the arguments into :class:`~ekos_occult.app.load.LoadRequest`, calls
:func:`~ekos_occult.app.load.load_into_ekos` and prints its outcome (text or JSON). A night with
nothing to observe is not an error: the command says so, exits 0 and leaves Ekos alone.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ekos_occult.cli import values
from ekos_occult.cli.options import (
    add_bus_option,
    add_kstars_version_option,
    add_out_option,
    add_plan_arguments,
    out_dir,
    plan_options,
    say,
)

if TYPE_CHECKING:
    from ekos_occult.app.load import LoadPreview
    from ekos_occult.ekosfiles.rendered import RenderedNight
    from ekos_occult.kstars.loader import LoadReport
    from ekos_occult.kstars.readiness import ReadyReport
    from ekos_occult.model import Plan
    from ekos_occult.settings import Settings

__all__ = ["NAME", "HELP", "add_arguments", "run"]

NAME = "load"
HELP = (
    "plan the night, write its Ekos scheduler list and capture sequences, and load them into the "
    "running Ekos over D-Bus (refuses to touch a running scheduler unless --force)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan's arguments, plus bus, format, folder and the load switches."""
    add_plan_arguments(parser)
    add_bus_option(parser)
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        dest="state_dir",
        type=values.text,
        help="look for a running `ekos-occult sandbox` in DIR (used when --bus is not given)",
    )
    add_kstars_version_option(parser)
    add_out_option(
        parser,
        "the night's folder: DIR/<night>.esl and DIR/sequences/<job>.esq (default: "
        "<out_dir from the config>/<night>, else <user data dir>/ekos-occult/nights/<night>); "
        "it must be readable by KStars",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the text report"
    )
    parser.add_argument(
        "--start-ekos",
        action="store_true",
        dest="start_ekos",
        help="open Ekos and start the configured profile ([ekos] profile) if it is not running",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="stop a running Ekos scheduler (aborting its job) before loading",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        dest="dry_run",
        help="print the plan and the actions, without calling Ekos or writing files",
    )


def _not_loaded(plan: Plan) -> list[dict[str, str]]:
    return [
        {
            "name": e.name,
            "reason": e.reason.value if e.reason else e.status.value,
            "detail": e.detail,
        }
        for e in plan.skipped
    ]


def _jobs(rendered: RenderedNight) -> list[dict[str, Any]]:
    return [
        {
            "name": j.name,
            "event": j.event.name,
            "start_at": j.start_at,
            "job_start_utc": j.event.job_start.isoformat(),
            "ra_hours": j.ra_hours,
            "dec_deg": j.dec_deg,
            "sequence": str(j.sequence_path),
        }
        for j in rendered.jobs
    ]


def _notes(rendered: RenderedNight, ready: ReadyReport | None) -> list[str]:
    notes = [note for event in rendered.plan.events for note in event.notes]
    return [*(ready.notes if ready else ()), *notes]


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _print_tail(plan: Plan, notes: list[str]) -> None:
    for item in _not_loaded(plan):
        print(f"  not loaded: {item['name']} ({item['reason']})")
    for note in notes:
        print(f"  note: {note}")


def _nothing(events: str, as_json: bool, plan: Plan) -> int:
    reasons = sorted({item["reason"] for item in _not_loaded(plan)})
    why = f" (skipped: {', '.join(reasons)})" if reasons else ""
    found = (
        f"none of the {len(plan.events)} event(s) in {events} can be observed{why}"
        if plan.events
        else f"{events} lists no event"
    )
    message = f"Nothing to load: {found}. Ekos was not contacted; its scheduler is unchanged."
    if as_json:
        _print_json(
            {"loaded": False, "message": message, "jobs": [], "not_loaded": _not_loaded(plan)}
        )
    else:
        print(message)
        _print_tail(plan, [])
    return 0


def _preview(preview: LoadPreview, as_json: bool) -> int:
    rendered, plan = preview.rendered, preview.plan
    if as_json:
        _print_json(
            {
                "dry_run": True,
                "actions": list(preview.actions),
                "jobs": _jobs(rendered),
                "not_loaded": _not_loaded(plan),
                "notes": _notes(rendered, None),
            }
        )
        return 0
    print(
        f"Dry run: nothing is sent to Ekos and no file is written. Night {rendered.night}: "
        f"{len(rendered.jobs)} job(s); start times below in UTC (a real load writes them in "
        "the time zone of KStars' location)."
    )
    for job in rendered.jobs:
        print(f"  {job.start_at}  {job.name}")
    print("Actions:")
    for number, action in enumerate(preview.actions, 1):
        print(f"  {number}. {action}")
    _print_tail(plan, _notes(rendered, None))
    return 0


def _report_dict(ready: ReadyReport, rendered: RenderedNight, report: LoadReport) -> dict[str, Any]:
    return {
        "loaded": True,
        "night": rendered.night,
        "schedule": str(report.schedule),
        "files": [str(p) for p in report.files],
        "kstars_version": ready.kstars_version,
        "file_format": ready.file_format,
        "format_source": ready.format_source,
        "kstars_location": ready.location.name,
        "kstars_tz_hours": ready.location.tz_hours,
        "camera": ready.camera,
        "devices": list(ready.devices),
        "started_profile": ready.started_profile,
        "stopped_scheduler": report.stopped.value if report.stopped else None,
        "scheduler_status": report.status.value,
        "load_seconds": round(report.load_s, 3),
        "ekos_log": list(report.ekos_log),
        "jobs": _jobs(rendered),
        "not_loaded": _not_loaded(rendered.plan),
        "notes": _notes(rendered, ready),
    }


def _print_report(ready: ReadyReport, rendered: RenderedNight, report: LoadReport) -> None:
    print(
        f"Loaded night {rendered.night} into Ekos: {len(report.jobs)} job(s). "
        f"{ready.version_text}; start times in {rendered.tz_label} (KStars' location "
        f"{ready.location.name!r})."
    )
    if ready.started_profile:
        print(f"  started the Ekos profile {ready.started_profile!r}")
    if report.stopped is not None:
        print(f"  stopped the Ekos scheduler first (it was {report.stopped.value})")
    for job in report.jobs:
        print(
            f"  {job.start_at}  {job.name}  (job start {job.event.job_start:%Y-%m-%d %H:%M:%S} UTC)"
        )
    print(f"  schedule: {report.schedule}")
    logged = (
        "it logged nothing while loading (KStars 3.6 logs only problems)"
        if not report.ekos_log
        else "it logged: " + " | ".join(report.ekos_log)
    )
    print(
        f"  Ekos scheduler: {report.status.value}; {logged}. Emptied and loaded in "
        f"{report.load_s:.2f} s."
    )
    _print_tail(rendered.plan, _notes(rendered, ready))


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, render, write and load. Returns 0 (also when there is nothing to load).

    Raises:
        ConfigError, CsvFormatError, InputError, RenderError, OutputError: bad input (exit 2).
        EkosError: KStars/Ekos not reachable, busy, refusing or not answering.
    """
    from ekos_occult.app.load import LoadPreview, LoadRequest, NothingToLoad, load_into_ekos

    request = LoadRequest(
        plan_options(args),
        out_dir=out_dir(args),
        bus=args.bus,
        start_ekos=args.start_ekos,
        force=args.force,
        dry_run=args.dry_run,
    )
    outcome = load_into_ekos(request, settings, lambda text: say(NAME, text))
    if isinstance(outcome, NothingToLoad):
        return _nothing(request.plan.events, args.json, outcome.plan)
    if isinstance(outcome, LoadPreview):
        return _preview(outcome, args.json)
    if args.json:
        _print_json(_report_dict(outcome.ready, outcome.rendered, outcome.report))
    else:
        _print_report(outcome.ready, outcome.rendered, outcome.report)
    return 0
