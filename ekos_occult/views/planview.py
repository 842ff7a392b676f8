"""A Plan for people and programs: the rich table, the one-line summary, the JSON document.

Pure functions that return text or plain dicts; the command decides where they go.
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ekos_occult.model import (
    InvalidRow,
    Plan,
    PlannedEvent,
    PredictionInfo,
    SkipReason,
    Status,
    Visibility,
)

__all__ = [
    "plan_to_dict",
    "event_to_dict",
    "invalid_to_dict",
    "summary_line",
    "plan_table",
    "render_table",
]

_STATUS_STYLE = {Status.SCHEDULED: "green", Status.SKIPPED: "yellow", Status.INVALID: "red"}


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


_ANGLES = (
    "altitude_deg",
    "azimuth_deg",
    "sun_altitude_deg",
    "min_altitude_deg",
    "max_sun_altitude_deg",
)


def _angles(v: Visibility | None) -> dict[str, float | None]:
    return {k: None if v is None else round(getattr(v, k), 3) for k in _ANGLES}


def _prediction(info: PredictionInfo | None) -> dict[str, Any]:
    """The occelmnt station geometry (all None for events from a CSV)."""
    if info is None:
        return {
            k: None
            for k in (
                "chord_offset_km",
                "side",
                "in_path",
                "in_1sigma",
                "sigma_path_km",
                "shadow_speed_km_s",
                "plane_speed_km_s",
                "max_duration_s",
                "chord_duration_s",
                "time_uncertainty_s",
                "mag_drop",
            )
        }
    return {
        "chord_offset_km": round(info.chord_offset_km, 3),
        "side": info.side,
        "in_path": info.in_path,
        "in_1sigma": info.in_1sigma,
        "sigma_path_km": None if info.sigma_path_km is None else round(info.sigma_path_km, 3),
        "shadow_speed_km_s": round(info.relative_speed_km_s, 3),  # relative to the station
        "plane_speed_km_s": round(info.shadow_speed_km_s, 3),  # on the fundamental plane
        "max_duration_s": round(info.max_duration_s, 3),
        "chord_duration_s": round(info.chord_duration_s, 3),
        "time_uncertainty_s": round(info.time_uncertainty_s, 3),
        "mag_drop": info.mag_drop,
    }


def event_to_dict(p: PlannedEvent) -> dict[str, Any]:
    """One planned event as JSON-ready values (times ISO 8601 UTC, angles in degrees)."""
    e, v = p.event, p.visibility
    return {
        "name": e.name,
        "status": p.status.value,
        "reason": None if p.reason is None else p.reason.value,
        "detail": p.detail,
        "record_start": _iso(e.record_start),
        "record_end": _iso(e.record_end),
        "job_start": _iso(p.job_start),
        "central_time": _iso(e.central_time),
        **_prediction(e.prediction),
        "duration_s": e.duration.total_seconds(),
        "exposure_s": round(p.exposure_s, 6),
        **_angles(v),
        "ra_deg": e.ra_deg,
        "dec_deg": e.dec_deg,
        "mag": e.mag,
        "priority": e.priority,
        "event_duration_s": e.event_duration_s,
        "asteroid": e.asteroid,
        "id": e.event_id,
        "line": e.line,
        "notes": list(p.notes),
        "input": dict(e.fields),
    }


def invalid_to_dict(row: InvalidRow) -> dict[str, Any]:
    """An unreadable CSV row, with status ``invalid`` and its problems."""
    return {
        "name": row.name,
        "status": Status.INVALID.value,
        "reason": None,
        "detail": "; ".join(row.problems),
        "record_start": None,
        "record_end": None,
        "job_start": None,
        "exposure_s": None,
        "altitude_deg": None,
        "azimuth_deg": None,
        "sun_altitude_deg": None,
        "line": row.line,
        "problems": list(row.problems),
    }


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The whole plan as one JSON-ready object: site, now, rules, summary, events, warnings."""
    return {
        "site": {
            "lat_deg": plan.site.lat_deg,
            "lon_deg": plan.site.lon_deg,
            "elevation_m": plan.site.elevation_m,
        },
        "now": _iso(plan.now),
        "rules": {
            "lead_s": plan.rules.lead_s,
            "min_altitude_deg": plan.rules.min_altitude_deg,
            "max_sun_altitude_deg": plan.rules.max_sun_altitude_deg,
        },
        "summary": summary_line(plan),
        "events": [event_to_dict(p) for p in plan.events]
        + [invalid_to_dict(r) for r in plan.invalid],
        "warnings": list(plan.warnings),
    }


def summary_line(plan: Plan) -> str:
    """E.g. ``3 scheduled, 2 skipped (1 past, 1 sun), 1 invalid.``"""
    reasons = Counter(p.reason for p in plan.skipped)
    text = f"{len(plan.scheduled)} scheduled, {len(plan.skipped)} skipped"
    if reasons:
        text += " (" + ", ".join(f"{reasons[r]} {r.value}" for r in SkipReason if reasons[r]) + ")"
    if plan.invalid:
        text += f", {len(plan.invalid)} invalid"
    return text + "."


def _deg(x: float | None, fmt: str = "{:.1f}°") -> str:
    return "" if x is None else fmt.format(x)


def _window(p: PlannedEvent) -> str:
    e = p.event
    end_fmt = "%H:%M:%S" if e.record_end.date() == e.record_start.date() else "%m-%d %H:%M:%S"
    return f"{e.record_start:%Y-%m-%d %H:%M:%S}–{e.record_end.strftime(end_fmt)}"


def plan_table(plan: Plan) -> Table:
    """The plan as a rich Table: one row per event, then the invalid rows."""
    table = Table(
        title=f"Plan at {plan.now:%Y-%m-%d %H:%M:%S} UTC for site {plan.site}", title_justify="left"
    )
    for header, justify in (
        ("Name", "left"),
        ("Status", "left"),
        ("Record window (UTC)", "left"),
        ("Job start", "left"),
        ("Alt", "right"),
        ("Az", "right"),
        ("Sun", "right"),
        ("Exposure", "right"),
        ("Detail", "left"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for p in plan.events:
        a = _angles(p.visibility)
        status = p.status.value if p.reason is None else f"{p.status.value}: {p.reason.value}"
        table.add_row(
            Text(p.name),
            Text(status, style=_STATUS_STYLE[p.status]),
            _window(p),
            f"{p.job_start:%H:%M:%S}",
            *(_deg(a[k]) for k in _ANGLES[:3]),
            f"{p.exposure_s:.4g} s",
            Text("; ".join(filter(None, (p.detail, *p.notes)))),
        )
    for row in plan.invalid:
        table.add_row(
            Text(row.name or ""),
            Text(Status.INVALID.value, style="red"),
            "",
            "",
            "",
            "",
            "",
            "",
            Text("; ".join(row.problems)),
        )
    return table


def render_table(plan: Plan, *, width: int = 160, color: bool = False) -> str:
    """The table and the summary line as text (ANSI colours only when ``color``)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
    )
    console.print(plan_table(plan))
    console.print(Text(summary_line(plan)))
    return buffer.getvalue()
