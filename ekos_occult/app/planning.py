"""Planning the night from its events file: the ``plan`` use case, and the plan every other
command (``render``, ``load``, ``run``) starts from, made the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.errors import ConfigError
from ekos_occult.plan.predictions import PredictionOptions

if TYPE_CHECKING:
    from ekos_occult.model import Plan, Site
    from ekos_occult.plan.occelmnt import Feed
    from ekos_occult.settings import Settings

__all__ = ["Say", "quiet", "PlanOptions", "build_plan", "plan_predictions", "plan_night"]

Say = Callable[[str], None]
"""How a use case reports along the way: one line; a side remark starts ``warning:`` or
``note:`` (``cli`` prints it on stderr after the command's name), a progress line does not."""


def quiet(text: str) -> None:
    """A :data:`Say` that drops everything."""


@dataclass(frozen=True)
class PlanOptions:
    """What to plan, and how.

    Attributes:
        events: the events CSV, an occelmnt file or folder, or ``-`` (standard input).
        now: plan as if it were this UTC time (aware); None: the system clock.
        skip_invalid: plan the valid rows and list the invalid ones instead of failing.
        predictions: the occelmnt filters (``--max-offset`` ...); ignored, with a warning,
            for a CSV.
    """

    events: str
    now: datetime | None = None
    skip_invalid: bool = False
    predictions: PredictionOptions = field(default_factory=PredictionOptions)


def build_plan(options: PlanOptions, settings: Settings) -> Plan:
    """Read ``options.events`` and plan it with the settings' site and rules. Prints nothing.

    Returns:
        The plan; ``Plan.warnings`` holds sentences for stderr (e.g. ignored columns).

    Raises:
        InputError: the events file cannot be read (said first, before a missing site).
        ConfigError: no site.
        CsvFormatError: the events file has problems (all of them listed).
        PredictionFormatError: an occelmnt file (``*.xml``, a folder, or text starting
            ``<Occultations>``) cannot be read.
    """
    from ekos_occult.app.events import is_prediction_path, read_events_text, read_prediction_files
    from ekos_occult.plan.catalog import read_events
    from ekos_occult.plan.occelmnt import is_occelmnt_text, read_occelmnt
    from ekos_occult.plan.planner import make_plan

    path = options.events
    name = "<stdin>" if path == "-" else path
    # The input first: a missing or unreadable events file is named before a missing site.
    feed = read_prediction_files(path) if is_prediction_path(path) else None
    text = ""
    if feed is None:
        text = read_events_text(path)
        if is_occelmnt_text(text):
            feed = read_occelmnt(text, name)
    site = settings.require_site()
    now = options.now
    if now is None:
        from ekos_occult.clock import SystemClock

        now = SystemClock().now()
    if feed is not None:
        return plan_predictions(feed, options.predictions, site, now, settings)
    catalog = read_events(text, name, skip_invalid=options.skip_invalid)
    plan = make_plan(catalog.events, site, now, settings.rules, invalid=catalog.invalid)
    ignored = _csv_ignores_prediction_options(options.predictions)
    return dataclasses.replace(plan, warnings=catalog.warnings + plan.warnings + ignored)


def _csv_ignores_prediction_options(options: PredictionOptions) -> tuple[str, ...]:
    """A warning when prediction options were given for a CSV (they do not apply)."""
    given = [
        flag
        for flag, value in (
            ("--max-offset", options.max_offset_km),
            ("--path-sigmas", options.path_sigmas),
            ("--time-uncertainty", options.time_uncertainty_s),
        )
        if value is not None
    ]
    if not given:
        return ()
    return (f"{', '.join(given)} only apply to occelmnt predictions: ignored for a CSV",)


def plan_predictions(
    feed: Feed, options: PredictionOptions, site: Site, now: datetime, settings: Settings
) -> Plan:
    """Plan occelmnt predictions like CSV events (used by :func:`build_plan`)."""
    from ekos_occult.plan.planner import make_plan
    from ekos_occult.plan.predictions import events_from_predictions

    predicted = events_from_predictions(feed.predictions, site, options)
    plan = make_plan(predicted.events, site, now, settings.rules)
    dropped = [i for i in predicted.items if not i.kept and i.event is not None]
    note: tuple[str, ...] = ()
    if dropped:
        note = (
            f"{len(dropped)} of {len(predicted.items)} predicted event(s) left out of the plan: "
            + "; ".join(f"{i.event.name}: {i.reason}" for i in dropped if i.event is not None),
        )
    warnings = feed.warnings + predicted.warnings + note + plan.warnings
    return dataclasses.replace(plan, warnings=warnings)


def plan_night(options: PlanOptions, settings: Settings, plot: Path | None = None) -> Plan:
    """The ``plan`` use case: plan the events, and write the night's altitude chart to ``plot``.

    Raises:
        ConfigError: ``plot`` does not end in ``.png``; and as :func:`build_plan`.
        OutputError: the chart cannot be written.
    """
    if plot is not None and plot.suffix.lower() != ".png":
        raise ConfigError(f"--plot: {plot} must end in .png (the chart is a PNG image).")
    plan = build_plan(options, settings)
    if plot is not None:
        from ekos_occult.files import write_bytes_atomic
        from ekos_occult.views.altitudeplot import altitude_chart_png

        write_bytes_atomic(plot, altitude_chart_png(plan), "--plot")
    return plan
