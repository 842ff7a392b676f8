"""The reduced light curve as a PNG: points, the fitted square wave, D and R with their 68% bars.

matplotlib (Agg canvas, no pyplot global state); import this module lazily. Writes no file.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ekos_occult.reduction import Reduction, to_dict

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


def reduction_png(red: Reduction) -> bytes:
    """Render the light curve with the fit and D/R marks; returns PNG bytes."""
    fig = Figure(figsize=(10, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x, label = _axis(red)
    step = float(np.median(np.diff(x))) if x.size > 1 else 1.0
    ax.plot(x + step / 2, red.flux, ".", ms=3, color="0.35", label="light curve (mid-frame)")
    mx, my = _model(red, x)
    ax.plot(mx, my, "-", color="tab:red", lw=1.2, label="fitted square wave")
    info = to_dict(red)
    t, e = red.timing, red.timing.errors
    if t.event and e is not None:
        scale = step
        for name, pos, bar, color in (
            ("D", t.d, e.d68, "tab:blue"),
            ("R", t.r, e.r68, "tab:green"),
        ):
            xe = _edge_x(red, pos)
            ax.axvspan(xe - bar * scale, xe + bar * scale, color=color, alpha=0.2)
            ax.axvline(xe, color=color, lw=1, label=f"{name} {info[name] or pos}")
    verdict = "event" if t.event else "no event"
    ax.set_title(
        f"{red.lightcurve.source}: {verdict}, false-event probability "
        f"{t.false_event_probability:.2g}",
        fontsize=9,
    )
    ax.set_xlabel(label)
    ax.set_ylabel("flux" + (" / references" if red.references else ""))
    ax.legend(fontsize=8, loc="lower left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
