"""The ``render`` use case: plan the night, render its Ekos files, check and write them whole."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.app.planning import PlanOptions, Say, quiet
from ekos_occult.ekosfiles.formats import KStarsFormat, parse_format_setting

if TYPE_CHECKING:
    from ekos_occult.ekosfiles.rendered import RenderedNight
    from ekos_occult.settings import Settings

__all__ = ["RenderRequest", "RenderResult", "render_files", "render_version"]


@dataclass(frozen=True)
class RenderRequest:
    """What ``ekos-occult render`` was asked.

    Attributes:
        plan: the events and how to plan them.
        out_dir: the night folder (``--out``); None: ``<out_dir or user data>/<night>``.
        tz: the time zone of KStars' location, in which StartAt times are written.
    """

    plan: PlanOptions
    out_dir: Path | None = None
    tz: tzinfo = timezone.utc


@dataclass(frozen=True)
class RenderResult:
    """The rendered night and the files written (schedule last)."""

    rendered: RenderedNight
    written: tuple[Path, ...]


def render_version(setting: str) -> tuple[KStarsFormat, str | None]:
    """The file format to render (``[ekos] kstars_version``), and a note when ``auto`` had to
    be resolved without Ekos (to 3.6)."""
    chosen = parse_format_setting(setting)
    if chosen is not None:
        return chosen, None
    return KStarsFormat.V3_6, (
        "--kstars-version auto: render does not talk to Ekos, so it writes the KStars 3.6 "
        "format; give --kstars-version 3.7 for KStars 3.7 or newer (`load` detects it)."
    )


def render_files(request: RenderRequest, settings: Settings, say: Say = quiet) -> RenderResult:
    """Plan, render, check and write the night's files (the folder is replaced whole).

    The plan's warnings and a note on the file format are said as soon as they are known.

    The events are kept beside the files (``events.csv``), so that ``ekos-occult run FOLDER``
    carries on.

    Raises:
        ConfigError: no site.
        CsvFormatError: problems in the events file.
        RenderError: nothing scheduled, or the rendered files do not match the plan.
        OutputError: the folder cannot be written (nothing is written then).
    """
    from ekos_occult.app.events import events_copy
    from ekos_occult.app.planning import build_plan
    from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY, night_dir
    from ekos_occult.ekosfiles.render import night_label, render_night
    from ekos_occult.files import replace_night

    version, note = render_version(settings.ekos.kstars_version)
    plan = build_plan(request.plan, settings)
    for warning in plan.warnings:
        say(f"warning: {warning}")
    if note:
        say(f"note: {note}")
    folder = night_dir(request.out_dir, settings, night_label(plan))
    rendered = render_night(plan, settings, version=version, night_dir=folder, tz=request.tz)
    copy = events_copy(request.plan.events)
    written = replace_night(rendered, copy, owned=(EVENTS_COPY,))
    return RenderResult(rendered, written)
