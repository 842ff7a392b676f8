"""A Plan for people and programs: the table, the one-line summary, the JSON document.

Pure functions that return text, plain dicts or an iterator of text chunks; the command decides
where they go. Sized for big plans (a year-long feed of thousands of events, 100 000 CSV rows):

* the table lists every row of a plan of up to :data:`FULL_TABLE_ROWS` rows; a bigger plan lists
  its scheduled rows and says how many others ``--all`` would add (``show_all``);
* up to :data:`RICH_MAX_ROWS` rows are drawn by rich (boxes, wrapping, colours); more rows as
  plain aligned columns, one line per row (rich measures every cell: ~2.5 ms a row, 25 s for
  10 000 rows);
* :func:`iter_plan_json` yields the JSON document piece by piece with compact separators
  (``json.dumps(indent=2)`` of 100 000 events takes 12 s and 1.4 GB); the same document as
  :func:`plan_to_dict`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

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
from ekos_occult.views.console import text_console

__all__ = [
    "plan_to_dict",
    "event_to_dict",
    "invalid_to_dict",
    "summary_line",
    "plan_table",
    "render_table",
    "iter_plan_json",
    "FULL_TABLE_ROWS",
    "RICH_MAX_ROWS",
]

FULL_TABLE_ROWS = 100  # a plan with more rows lists its scheduled ones unless show_all
RICH_MAX_ROWS = 200  # more rows than this are printed as plain columns

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
        **_plan_head(plan),
        "events": list(_event_rows(plan)),
        "warnings": list(plan.warnings),
    }


def _plan_head(plan: Plan) -> dict[str, Any]:
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
    }


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # compact: the C encoder


def iter_plan_json(plan: Plan) -> Iterator[str]:
    """:func:`plan_to_dict` as compact JSON text in pieces (one per event), ending in a newline.

    Only one event's dict exists at a time, and the C encoder is used (``indent`` would select
    the pure-Python one): 100 000 events stream in about a second in a bounded amount of memory.
    """
    head = _JSON.encode(_plan_head(plan))
    yield head[:-1] + ',"events":['
    first = True
    for row in _event_rows(plan):
        yield ("" if first else ",") + _JSON.encode(row)
        first = False
    yield '],"warnings":' + _JSON.encode(list(plan.warnings)) + "}\n"


def _event_rows(plan: Plan) -> Iterator[dict[str, Any]]:
    for p in plan.events:
        yield event_to_dict(p)
    for r in plan.invalid:
        yield invalid_to_dict(r)


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


_HEADERS = (
    ("Name", "left"),
    ("Status", "left"),
    ("Record window (UTC)", "left"),
    ("Job start", "left"),
    ("Alt", "right"),
    ("Az", "right"),
    ("Sun", "right"),
    ("Exposure", "right"),
    ("Detail", "left"),
)
_ANSI = {"green": "\x1b[32m", "yellow": "\x1b[33m", "red": "\x1b[31m"}
_ANSI_RESET = "\x1b[0m"

Row = tuple[Status, tuple[str, ...]]


def _planned_row(p: PlannedEvent) -> Row:
    a = _angles(p.visibility)
    status = p.status.value if p.reason is None else f"{p.status.value}: {p.reason.value}"
    return p.status, (
        p.name,
        status,
        _window(p),
        f"{p.job_start:%H:%M:%S}",
        *(_deg(a[k]) for k in _ANGLES[:3]),
        f"{p.exposure_s:.4g} s",
        "; ".join(filter(None, (p.detail, *p.notes))),
    )


def _invalid_row(row: InvalidRow) -> Row:
    cells = (row.name or "", Status.INVALID.value, "", "", "", "", "", "", "; ".join(row.problems))
    return Status.INVALID, cells


def _rows(plan: Plan, show_all: bool) -> tuple[list[Row], str]:
    """The rows to list, and a sentence on the rows left out ("" when none is)."""
    if show_all or len(plan.events) + len(plan.invalid) <= FULL_TABLE_ROWS:
        return [_planned_row(p) for p in plan.events] + [_invalid_row(r) for r in plan.invalid], ""
    rows = [_planned_row(p) for p in plan.scheduled]
    left_out = [f"{len(plan.skipped)} skipped"] + (
        [f"{len(plan.invalid)} invalid"] if plan.invalid else []
    )
    note = (
        f"Listed: the {len(rows)} scheduled events of {len(plan.events) + len(plan.invalid)}; "
        f"not listed: {' and '.join(left_out)} (--all lists every row, --json gives everything)."
    )
    return rows, note


def _title(plan: Plan) -> str:
    return f"Plan at {plan.now:%Y-%m-%d %H:%M:%S} UTC for site {plan.site}"


def plan_table(plan: Plan, *, show_all: bool = True) -> Table:
    """The plan as a rich Table: one row per event, then the invalid rows (with ``show_all``
    False, a plan of more than :data:`FULL_TABLE_ROWS` rows lists its scheduled events only)."""
    return _rich_table(plan, _rows(plan, show_all)[0])


def _rich_table(plan: Plan, rows: list[Row]) -> Table:
    table = Table(title=_title(plan), title_justify="left")
    for header, justify in _HEADERS:
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for status, cells in rows:
        table.add_row(
            Text(cells[0]),
            Text(cells[1], style=_STATUS_STYLE[status]),
            *cells[2:8],
            Text(cells[8]),
        )
    return table


def _plain_table(plan: Plan, rows: list[Row], color: bool) -> str:
    """Aligned columns, one line per row (the detail last, unpadded): linear in the rows."""
    widths = [len(h) for h, _ in _HEADERS]
    for _, cells in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, cells, strict=True)]

    def line(cells: tuple[str, ...], status: Status | None) -> str:
        out = []
        for i, (cell, (_, justify)) in enumerate(zip(cells, _HEADERS, strict=True)):
            text = (
                cell
                if i == len(cells) - 1
                else (cell.rjust(widths[i]) if justify == "right" else cell.ljust(widths[i]))
            )
            if i == 1 and color and status is not None:
                text = _ANSI[_STATUS_STYLE[status]] + text + _ANSI_RESET
            out.append(text)
        return "  ".join(out).rstrip()

    lines = [_title(plan), line(tuple(h for h, _ in _HEADERS), None)]
    lines.append("  ".join("-" * w for w in widths[:-1]) + "  " + "-" * max(widths[-1], 6))
    lines.extend(line(cells, status) for status, cells in rows)
    return "\n".join(lines) + "\n"


def render_table(
    plan: Plan, *, width: int = 160, color: bool = False, show_all: bool = False
) -> str:
    """The table, the summary line and, when rows were left out, a line saying which.

    Every row for a plan of up to :data:`FULL_TABLE_ROWS` rows or with ``show_all``; else the
    scheduled events. Drawn by rich up to :data:`RICH_MAX_ROWS` rows, as plain columns beyond
    (ANSI colours only when ``color``).
    """
    rows, note = _rows(plan, show_all)
    if len(rows) > RICH_MAX_ROWS:
        return (
            _plain_table(plan, rows, color) + summary_line(plan) + "\n" + note + "\n" * bool(note)
        )
    console, buffer = text_console(width, color)
    console.print(_rich_table(plan, rows))
    console.print(Text(summary_line(plan)))
    if note:
        console.print(Text(note))
    return buffer.getvalue()
