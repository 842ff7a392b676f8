"""The ``load`` use case: plan the night, render its files for the running KStars, load them.

Asks KStars over D-Bus for its version (file format) and its location's time zone (Ekos reads
StartAt as local wall-clock time there), renders and writes the night's .esl/.esq like
``render``, then replaces the Ekos scheduler's jobs with the night's, refusing to touch a running
scheduler unless ``force``. A night with nothing to observe leaves Ekos alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.app.planning import PlanOptions, Say, quiet

if TYPE_CHECKING:
    from ekos_occult.ekosfiles.rendered import RenderedNight
    from ekos_occult.kstars.loader import LoadReport
    from ekos_occult.kstars.readiness import ReadyReport
    from ekos_occult.model import Plan
    from ekos_occult.settings import Settings

__all__ = ["LoadRequest", "NothingToLoad", "LoadPreview", "Loaded", "load_into_ekos"]


@dataclass(frozen=True)
class LoadRequest:
    """What ``ekos-occult load`` was asked.

    Attributes:
        plan: the events and how to plan them.
        out_dir: the night folder (``--out``); it must be readable by KStars.
        bus: KStars' D-Bus address (None: ``$DBUS_SESSION_BUS_ADDRESS``, else a sandbox's).
        start_ekos: open Ekos and start the configured profile if it is not running.
        force: stop a running scheduler (aborting its job) before loading.
        dry_run: render in memory and list the actions; no D-Bus call, no file written.
    """

    plan: PlanOptions
    out_dir: Path | None = None
    bus: str | None = None
    start_ekos: bool = False
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True)
class NothingToLoad:
    """No event can be observed: Ekos was not contacted."""

    plan: Plan


@dataclass(frozen=True)
class LoadPreview:
    """A dry run: the night as it would be rendered (start times in UTC) and the actions."""

    plan: Plan
    rendered: RenderedNight
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Loaded:
    """The night loaded: how Ekos was found, what was rendered, what the load did."""

    ready: ReadyReport
    rendered: RenderedNight
    report: LoadReport


def load_into_ekos(
    request: LoadRequest, settings: Settings, say: Say = quiet
) -> NothingToLoad | LoadPreview | Loaded:
    """Plan, render, write and load (or only preview, or nothing when nothing is observable).

    Raises:
        ConfigError, CsvFormatError, InputError, RenderError, OutputError: bad input.
        EkosUnavailable: no bus, KStars not running, Ekos not started, no camera.
        EkosCommandFailed: the scheduler is busy (without ``force``), or Ekos refused the file.
        EkosTimeout: Ekos did not answer in time.
    """
    import asyncio
    import os

    from ekos_occult.app.planning import build_plan
    from ekos_occult.ekosfiles.nightfolder import night_dir
    from ekos_occult.ekosfiles.render import night_label
    from ekos_occult.kstars.sandbox import resolve_bus_address

    plan = build_plan(request.plan, settings)
    for warning in plan.warnings:
        say(f"warning: {warning}")
    if not plan.scheduled:
        return NothingToLoad(plan)
    folder = night_dir(request.out_dir, settings, night_label(plan))
    if request.dry_run:
        return _preview(request, settings, plan, folder)
    bus = resolve_bus_address(request.bus, os.environ, settings.sandbox_dir)
    return asyncio.run(_load(bus, request, settings, plan, folder))


def _preview(request: LoadRequest, settings: Settings, plan: Plan, folder: Path) -> LoadPreview:
    import os

    from ekos_occult.app.render import render_version
    from ekos_occult.ekosfiles.render import render_night
    from ekos_occult.errors import EkosUnavailable
    from ekos_occult.kstars.loader import load_actions
    from ekos_occult.kstars.sandbox import resolve_bus_address

    version, _ = render_version(settings.ekos.kstars_version)
    rendered = render_night(plan, settings, version=version, night_dir=folder)
    try:
        bus = resolve_bus_address(request.bus, os.environ, settings.sandbox_dir)
    except EkosUnavailable as exc:
        bus = f"(none found: {exc})"
    actions = load_actions(
        folder / rendered.schedule.relpath,
        force=request.force,
        start_ekos=request.start_ekos,
        bus=bus,
    )
    return LoadPreview(plan, rendered, tuple(actions))


def _write(events: str, rendered: RenderedNight) -> tuple[Path, ...]:
    """Replace the night folder whole: the night's files and its events (for ``run FOLDER``)."""
    from ekos_occult.app.events import events_copy
    from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY
    from ekos_occult.files import replace_night

    return replace_night(rendered, events_copy(events), owned=(EVENTS_COPY,))


async def _load(
    bus: str, request: LoadRequest, settings: Settings, plan: Plan, folder: Path
) -> Loaded:
    from ekos_occult.clock import SystemClock
    from ekos_occult.ekosfiles.render import render_night
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.loader import load_night
    from ekos_occult.kstars.readiness import ensure_ekos_ready, settings_for_camera

    clock = SystemClock()
    async with EkosClient(bus, timeout_s=settings.ekos.call_timeout_s) as client:
        ready = await ensure_ekos_ready(
            client, settings, start_ekos=request.start_ekos, clock=clock
        )
        settings, note = settings_for_camera(settings, ready)  # the camera's own <Format> label
        if note:
            ready = dataclasses.replace(ready, notes=(*ready.notes, note))
        rendered = render_night(
            plan, settings, version=ready.file_format, night_dir=folder, tz=ready.tz
        )
        report = await load_night(
            client,
            rendered,
            lambda: _write(request.plan.events, rendered),
            force=request.force,
            clock=clock,
        )
    return Loaded(ready, rendered, report)
