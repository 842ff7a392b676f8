"""``ekos-occult render``: the night's Ekos scheduler list and capture sequences, files only.

Plans the events file like ``ekos-occult plan``, renders one .esl (one job per scheduled event)
and one .esq per job, checks them by parsing them back, and writes them atomically into the
night folder (:func:`ekos_occult.app.render.render_files`). No D-Bus: ``ekos-occult load`` puts
them into a running Ekos.
"""

from __future__ import annotations

import argparse
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.cli import values
from ekos_occult.cli.options import (
    add_kstars_version_option,
    add_out_option,
    add_plan_arguments,
    out_dir,
    plan_options,
    say,
)
from ekos_occult.errors import ConfigError

if TYPE_CHECKING:
    from ekos_occult.ekosfiles.rendered import RenderedNight
    from ekos_occult.settings import Settings

__all__ = [
    "NAME",
    "HELP",
    "add_arguments",
    "run",
    "parse_kstars_tz",
]

NAME = "render"
HELP = (
    "write the night's Ekos scheduler list (.esl, one job per scheduled event) and capture "
    "sequences (.esq) into a folder - files only, nothing is sent to Ekos"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``render`` command's arguments: the plan's, plus format, folder and time zone."""
    add_plan_arguments(parser)
    add_kstars_version_option(parser)
    add_out_option(
        parser,
        "the night's folder: DIR/<night>.esl and DIR/sequences/<job>.esq (default: "
        "<out_dir from the config>/<night>, else <user data dir>/ekos-occult/nights/<night>)",
    )
    parser.add_argument(
        "--kstars-tz",
        metavar="ZONE",
        dest="kstars_tz",
        type=values.time_zone,
        default="UTC",
        help="time zone of KStars' geographic location: Ekos reads job start times as "
        "wall-clock time there. An offset (+02:00, -5, 5.5) or a zone name (Europe/Berlin); "
        "default UTC; `ekos-occult load` asks KStars instead",
    )


def parse_kstars_tz(value: str | tzinfo) -> tzinfo:
    """``--kstars-tz``: ``UTC``, an offset (``+02:00``, ``-5``, ``5.5`` hours) or a zone name.

    A value already read by :func:`ekos_occult.cli.values.time_zone` passes through.

    Raises:
        ConfigError: the text is neither an offset within ±14 h nor a known zone name.
    """
    if isinstance(value, tzinfo):
        return value
    try:
        return values.time_zone(value)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"--kstars-tz: {exc}.") from None


def _report(rendered: RenderedNight, written: tuple[Path, ...]) -> None:
    print(
        f"Night {rendered.night}: {len(rendered.jobs)} Ekos job(s) for KStars {rendered.version}"
        f" (start times in {rendered.tz_label}) written to {rendered.night_dir}"
    )
    for job in rendered.jobs:
        print(
            f"  {job.start_at}  {job.name}  RA {job.ra_hours:.6f} h  Dec {job.dec_deg:+.5f}°  "
            f"{job.sequence_relpath}"
        )
    print(f"  schedule: {written[-1]}")
    notes = [note for event in rendered.plan.events for note in event.notes]
    for note in notes:
        print(f"  note: {note}")
    skipped = rendered.plan.skipped
    if skipped:
        reasons = ", ".join(
            f"{e.name} ({e.reason.value if e.reason else e.status.value})" for e in skipped
        )
        print(f"  not rendered: {reasons}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Plan, render, check and write the night's files. Returns 0.

    Raises:
        ConfigError: bad ``--kstars-tz``, no site, bad ``--now``.
        CsvFormatError: problems in the events file.
        RenderError: nothing scheduled, or the rendered files do not match the plan.
        OutputError: the folder cannot be written (nothing is written then).
    """
    from ekos_occult.app.render import RenderRequest, render_files

    tz = parse_kstars_tz(args.kstars_tz)
    request = RenderRequest(plan_options(args), out_dir(args), tz)
    result = render_files(request, settings, lambda text: say(NAME, text))
    _report(result.rendered, result.written)
    return 0
