"""The night's altitude chart as PNG bytes (matplotlib, Agg; no pyplot global state).

Each scheduled event's altitude track, its recording window marked; the Sun's twilight bands
(day, civil, nautical, astronomical, night) shaded; the altitude limit as a dashed line.
Writes no file: the command writes the bytes atomically. Import this module lazily (matplotlib
is slow to import).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import DateFormatter, HourLocator, date2num
from matplotlib.figure import Figure

from ekos_occult.model import Plan, PlannedEvent
from ekos_occult.plan.earthsky import horizontal, local_era_rad, star_cirs, sun_altitude_deg
from ekos_occult.plan.visibility import to_unix

__all__ = ["altitude_chart_png", "TWILIGHT_BANDS"]

# (lowest Sun altitude, highest Sun altitude, label, colour): the brighter the sky, the stronger
# the shade; full night (Sun below -18°) stays white so the tracks stay readable.
TWILIGHT_BANDS = (
    (0.0, 90.0, "day", "#ffd966"),
    (-6.0, 0.0, "civil twilight", "#ffe9b3"),
    (-12.0, -6.0, "nautical twilight", "#cfe0f3"),
    (-18.0, -12.0, "astronomical twilight", "#ebf2fa"),
)
_MAX_POINTS = 1500
_MAX_LABELLED = 20
_MIN_SPAN = timedelta(hours=12)


def _span(plan: Plan) -> tuple[datetime, datetime]:
    """The time axis: the scheduled jobs (else all events, else now) with an hour either side,
    widened to at least 12 hours."""
    events = plan.scheduled or plan.events
    if not events:
        return plan.now - _MIN_SPAN / 2, plan.now + _MIN_SPAN / 2
    first = min(p.job_start for p in events) - timedelta(hours=1)
    last = max(p.event.record_end for p in events) + timedelta(hours=1)
    if last - first < _MIN_SPAN:  # show the night around the events, twilight included
        middle = first + (last - first) / 2
        first, last = middle - _MIN_SPAN / 2, middle + _MIN_SPAN / 2
    return first, last


def _num(t: datetime) -> float:
    return float(date2num(t))  # type: ignore[no-untyped-call]


def _grid(start: datetime, end: datetime) -> np.ndarray:
    t0, t1 = to_unix([start, end])
    step = max(60.0, (t1 - t0) / _MAX_POINTS)
    return np.arange(t0, t1 + step, step)


def _shade_twilight(ax: Axes, x: np.ndarray, sun: np.ndarray) -> None:
    for low, high, label, colour in TWILIGHT_BANDS:
        ax.fill_between(
            x,
            0,
            1,
            where=(sun >= low) & (sun < high),
            color=colour,
            step="mid",
            transform=ax.get_xaxis_transform(),
            label=label,
            linewidth=0,
        )


def _draw_event(ax: Axes, p: PlannedEvent, x: np.ndarray, alt: np.ndarray, labelled: bool) -> None:
    (line,) = ax.plot(x, alt, linewidth=0.9, alpha=0.6, label=p.name if labelled else None)
    colour = line.get_color()
    ax.axvspan(
        _num(p.event.record_start), _num(p.event.record_end), color=colour, alpha=0.35, linewidth=0
    )
    centre = p.event.record_start + p.event.duration / 2
    if p.visibility is not None:
        ax.plot([_num(centre)], [p.visibility.altitude_deg], marker="o", color=colour, markersize=5)


def altitude_chart_png(plan: Plan, *, dpi: int = 100) -> bytes:
    """Draw the plan's altitude chart.

    Args:
        plan: the plan (its scheduled events are drawn).
        dpi: resolution of the PNG.

    Returns:
        The PNG file's bytes.
    """
    start, end = _span(plan)
    grid = _grid(start, end)
    x = np.array([_num(datetime.fromtimestamp(float(t), tz=timezone.utc)) for t in grid])
    sun = sun_altitude_deg(plan.site, grid)
    fig = Figure(figsize=(11, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _shade_twilight(ax, x, sun)
    scheduled = plan.scheduled
    if scheduled:
        ra = np.array([[p.event.ra_deg] for p in scheduled])
        dec = np.array([[p.event.dec_deg] for p in scheduled])
        ri, di = star_cirs(ra, dec, np.array([[float(np.median(grid))]]))  # once per star
        alt, _ = horizontal(plan.site, local_era_rad(plan.site, grid) - ri, di)
        for i, p in enumerate(scheduled):
            _draw_event(ax, p, x, alt[i], labelled=i < _MAX_LABELLED)
    else:
        ax.text(
            0.5,
            0.5,
            "no event scheduled",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=14,
        )
    ax.axhline(
        plan.rules.min_altitude_deg,
        color="red",
        linestyle="--",
        label=f"altitude limit {plan.rules.min_altitude_deg:g}°",
    )
    ax.set_ylim(0, 90)
    ax.set_xlim(float(x[0]), float(x[-1]))
    hours = (end - start).total_seconds() / 3600.0
    locator = HourLocator(interval=max(1, round(hours / 10)), tz=timezone.utc)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=timezone.utc))  # type: ignore[no-untyped-call]
    ax.set_xlabel(f"UTC from {start:%Y-%m-%d %H:%M}")
    ax.set_ylabel("altitude (°)")
    ax.set_title(f"{len(scheduled)} scheduled event(s) at {plan.site}; windows shaded")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
