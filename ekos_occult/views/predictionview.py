"""Predictions at a station as a rich table (text); pure, the command decides where it goes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from ekos_occult.model import Site
from ekos_occult.plan.predictions import StationEvent
from ekos_occult.views.console import text_console

__all__ = [
    "prediction_table",
    "render_table",
    "path_status",
    "station_event_to_dict",
    "predictions_to_dict",
]


def path_status(item: StationEvent) -> tuple[str, str]:
    """``("in path", "green")``, ``("1-sigma", "yellow")``, ``("outside", "")`` or
    ``("below horizon", "red")``."""
    g = item.geometry
    if not g.star_visible:
        return "below horizon", "red"
    if g.in_path:
        return "in path", "green"
    if g.in_1sigma:
        return "1-sigma", "yellow"
    return "outside", ""


def _notes(item: StationEvent) -> str:
    e = item.event
    notes = [item.reason] if item.reason else []
    if e is not None and e.prediction is not None and e.prediction.small_drop:
        notes.append("small drop")
    notes += [w.split(": ", 1)[-1] for w in item.geometry.warnings]
    return "; ".join(notes)


def prediction_table(items: Sequence[StationEvent], site: Site) -> Table:
    """One row per prediction: time, offset, path status, sky, speed, duration, window."""
    table = Table(title=f"Occultation predictions for site {site}", title_justify="left")
    for header, justify in (
        ("Event", "left"),
        ("ID", "left"),
        ("Mag", "right"),
        ("Drop", "right"),
        ("Central time (UTC)", "left"),
        ("Offset", "right"),
        ("Path", "left"),
        ("σ path", "right"),
        ("Alt/Az", "right"),
        ("Sun", "right"),
        ("Speed", "right"),
        ("Dur (max/file/check)", "right"),
        ("Window (UTC)", "left"),
        ("Exp", "right"),
        ("Notes", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for item in items:
        p, g, e = item.prediction, item.geometry, item.event
        status, style = path_status(item)
        info = None if e is None else e.prediction
        drop = "" if info is None or info.mag_drop is None else f"{info.mag_drop:.2f}"
        file_dur = "–" if g.file_max_duration_s is None else f"{g.file_max_duration_s:g}"
        window = "" if e is None else f"{e.record_start:%H:%M:%S}–{e.record_end:%H:%M:%S}"
        table.add_row(
            Text(p.asteroid),
            p.event_id,
            "" if e is None else f"{e.mag:.2f}",
            drop,
            f"{g.central_time:%Y-%m-%d %H:%M:%S.%f}"[:-4],
            f"{g.offset_km:+.1f} km {g.side[:1].upper()}",
            Text(status, style=style),
            "" if g.sigma_path_km is None else f"{g.sigma_path_km:.1f} km",
            f"{g.star_alt_deg:.0f}°/{g.star_az_deg:.0f}°",
            f"{g.sun_alt_deg:.0f}°",
            f"{g.relative_speed_km_s:.2f} km/s",
            f"{g.max_duration_s:.2f}/{file_dur}/{g.check_duration_s:.2f} s",
            window,
            "" if item.exposure_s is None else f"{item.exposure_s:.3g} s",
            Text(_notes(item), style="dim" if not item.kept else ""),
        )
    return table


def render_table(
    items: Sequence[StationEvent], site: Site, *, width: int = 200, color: bool = False
) -> str:
    """The table and a one-line summary as text (ANSI colours only when ``color``)."""
    console, buffer = text_console(width, color)
    console.print(prediction_table(items, site))
    in_path = sum(1 for i in items if i.geometry.in_path)
    in_sigma = sum(1 for i in items if i.geometry.in_1sigma)
    kept = sum(1 for i in items if i.kept)
    console.print(
        Text(
            f"{len(items)} event(s): {in_path} in path, {in_sigma} within 1-sigma, "
            f"{kept} kept by the filters."
        )
    )
    return buffer.getvalue()


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


def predictions_to_dict(
    site: Site, items: Sequence[StationEvent], warnings: Sequence[str]
) -> dict[str, Any]:
    """The ``predictions --json`` document: the site, each event, the warnings."""
    return {
        "site": {"lat_deg": site.lat_deg, "lon_deg": site.lon_deg, "elevation_m": site.elevation_m},
        "events": [station_event_to_dict(i) for i in items],
        "warnings": list(warnings),
    }
