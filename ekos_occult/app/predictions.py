"""The ``predictions`` use case: occelmnt predictions at this station, filtered, with a map."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ekos_occult.errors import ConfigError
from ekos_occult.plan.predictions import PredictionOptions

if TYPE_CHECKING:
    from ekos_occult.model import Site
    from ekos_occult.plan.predictions import StationEvent
    from ekos_occult.settings import Settings

__all__ = ["PredictionsRequest", "StationPredictions", "station_predictions"]


@dataclass(frozen=True)
class PredictionsRequest:
    """What ``ekos-occult predictions`` was asked.

    Attributes:
        source: an occelmnt file, a folder of them, or ``-`` (standard input).
        options: the path filters and the time uncertainty.
        event: keep only events whose ID or object name contains this text.
        map_path: write a PNG map of the (one) selected event's shadow path here.
    """

    source: str
    options: PredictionOptions = field(default_factory=PredictionOptions)
    event: str | None = None
    map_path: Path | None = None


@dataclass(frozen=True)
class StationPredictions:
    """The predictions at the site, in central-time order, and the warnings for stderr."""

    site: Site
    items: tuple[StationEvent, ...]
    warnings: tuple[str, ...]


def station_predictions(request: PredictionsRequest, settings: Settings) -> StationPredictions:
    """Compute the predictions at the site, select them, and write the map when asked.

    Raises:
        ConfigError: no site; ``--event`` matches nothing; a bad ``--map``.
        InputError, PredictionFormatError: the predictions cannot be read.
        OutputError: the map cannot be written.
    """
    from ekos_occult.app.events import read_prediction_files
    from ekos_occult.plan.predictions import events_from_predictions

    feed = read_prediction_files(request.source)  # a missing file is said before a missing site
    site = settings.require_site()
    predicted = events_from_predictions(feed.predictions, site, request.options)
    items = tuple(
        sorted(_select(predicted.items, request.event), key=lambda i: i.geometry.central_time)
    )
    if request.map_path is not None:
        _write_map(request.map_path, items, site)
    return StationPredictions(site, items, feed.warnings + predicted.warnings)


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
