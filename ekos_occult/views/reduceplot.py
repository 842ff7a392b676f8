"""The reduced light curve as a PNG: points, the fitted square wave, D and R with their 68% bars.

matplotlib (Agg canvas, no pyplot global state); import this module lazily. Writes no file.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ekos_occult.reduce.reduction import Reduction, to_dict

__all__ = ["reduction_png"]


def _axis(red: Reduction) -> tuple[np.ndarray, str]:
    n = red.flux.size
    if red.times_s is None:
        return np.arange(n, dtype=np.float64), "frame"
    return red.times_s - red.times_s[0], "seconds from the first frame (start of exposure)"


def _model(red: Reduction, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fitted square wave as a step line over frame starts and ends."""
    t = red.timing
    n = red.flux.size
    i = np.arange(n, dtype=np.float64)
    w = np.clip(np.minimum(i + 1, t.r) - np.maximum(i, t.d), 0.0, 1.0) if t.event else 0 * i
    level = t.b + (t.a - t.b) * w
    step = float(np.median(np.diff(x))) if n > 1 else 1.0
    xs = np.ravel(np.column_stack([x, x + step]))
    return xs, np.repeat(level, 2)


def _edge_x(red: Reduction, pos: float) -> float:
    t = red.edge_time(pos)
    if t is None or red.times_s is None:
        return pos
    return t - float(red.times_s[0])


def _draw(ax: Axes, red: Reduction, x: np.ndarray, step: float, legend: bool) -> None:
    ax.plot(x + step / 2, red.flux, ".", ms=3, color="0.35", label="light curve (mid-frame)")
    mx, my = _model(red, x)
    ax.plot(mx, my, "-", color="tab:red", lw=1.2, label="fitted square wave")
    info = to_dict(red)
    t, e = red.timing, red.timing.errors
    if t.event and e is not None:
        for name, pos, bar, color in (
            ("D", t.d, e.d68, "tab:blue"),
            ("R", t.r, e.r68, "tab:green"),
        ):
            xe = _edge_x(red, pos)
            ax.axvspan(xe - bar * step, xe + bar * step, color=color, alpha=0.25)
            ax.axvline(xe, color=color, lw=1, label=f"{name} {info[name] or pos} (68% band)")
    if legend:
        ax.legend(fontsize=7, loc="lower left")


def reduction_png(red: Reduction) -> bytes:
    """Render the light curve with the fit and D/R marks (whole curve, and a zoom on the event);
    returns PNG bytes."""
    t = red.timing
    fig = Figure(figsize=(10, 7.5 if t.event else 4.5), dpi=100)
    FigureCanvasAgg(fig)
    x, label = _axis(red)
    step = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    ax = fig.add_subplot(2 if t.event else 1, 1, 1)
    _draw(ax, red, x, step, legend=not t.event)
    verdict = "event" if t.event else "no event"
    ax.set_title(
        f"{red.lightcurve.source}: {verdict}, false-event probability "
        f"{t.false_event_probability:.2g}",
        fontsize=9,
    )
    ax.set_ylabel("flux" + (" / references" if red.references else ""))
    if t.event:
        zoom = fig.add_subplot(2, 1, 2)
        _draw(zoom, red, x, step, legend=True)
        pad = max(15.0, 2.0 * (t.r - t.d)) * step
        zoom.set_xlim(_edge_x(red, t.d) - pad, _edge_x(red, t.r) + pad)
        zoom.set_title("the event", fontsize=9)
        zoom.set_ylabel(ax.get_ylabel())
        zoom.set_xlabel(label)
    else:
        ax.set_xlabel(label)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
