"""Map of one event's shadow path around the station, as PNG bytes (matplotlib Agg).

The centre line, the path limits (± diameter/2) and the 1-sigma lines (± diameter/2 + σ) are
inverted from the fundamental plane to the ground (:mod:`ekos_occult.plan.shadowpath`) and drawn in
longitude/latitude around the station (equal scale in km at the station's latitude). No coastlines:
the map is about the station's place relative to the path. Writes no file; import lazily.
"""

from __future__ import annotations

import io
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ekos_occult.model import Site
from ekos_occult.plan.geometry import StationGeometry
from ekos_occult.plan.occelmnt import Prediction
from ekos_occult.plan.shadowpath import path_lines

__all__ = ["path_map_png", "map_half_size_km"]

_KM_PER_DEG = 111.2
_POINTS = 1201


def map_half_size_km(p: Prediction, g: StationGeometry) -> float:
    """Half the map's width: the path and the station with room around them (≥ 100 km)."""
    return max(100.0, 1.3 * abs(g.offset_km) + p.object.diameter_km + 2 * (g.sigma_path_km or 0))


def path_map_png(p: Prediction, g: StationGeometry, site: Site, *, dpi: int = 100) -> bytes:
    """The path around the station.

    Args:
        p: the prediction.
        g: its geometry at the site (:func:`ekos_occult.plan.geometry.station_geometry`).
        site: the station.
        dpi: resolution.

    Returns:
        PNG bytes.
    """
    half_km = map_half_size_km(p, g)
    t_central = (g.central_time - p.elements.closest_approach).total_seconds() / 3600.0
    span_h = 3.0 * half_km / (g.shadow_speed_km_s * 3600.0) + 0.01
    t = np.linspace(t_central - span_h, t_central + span_h, _POINTS)
    radius, sigma = p.object.diameter_km / 2.0, g.sigma_path_km or 0.0
    offsets = (0.0, radius, -radius) + ((radius + sigma, -radius - sigma) if sigma > 0 else ())
    lines = path_lines(p, t, offsets)
    fig = Figure(figsize=(8, 7))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    styles = {
        0: ("centre line", "tab:blue", "-"),
        1: ("path limits", "tab:red", "-"),
        3: ("1-sigma limits", "tab:orange", "--"),
    }
    for k in range(len(offsets)):
        label, colour, dash = styles.get(k, ("", *styles[1 if k < 3 else 3][1:]))
        lon = _unwrap_near(lines.lon_deg[k], site.lon_deg)
        ax.plot(lon, lines.lat_deg[k], dash, color=colour, lw=1.2, label=label or None)
    ax.plot([site.lon_deg], [site.lat_deg], "k*", ms=12, label="station")
    when = g.central_time.strftime("%H:%M:%S.%f")[:-4]
    ax.annotate(
        f"{g.offset_km:+.1f} km ({g.side})\n{when} UTC",
        (site.lon_deg, site.lat_deg),
        textcoords="offset points",
        xytext=(8, 8),
    )
    dlat = half_km / _KM_PER_DEG
    dlon = dlat / max(math.cos(math.radians(site.lat_deg)), 0.05)
    ax.set_xlim(site.lon_deg - dlon, site.lon_deg + dlon)
    ax.set_ylim(max(-90.0, site.lat_deg - dlat), min(90.0, site.lat_deg + dlat))
    ax.set_aspect(1.0 / max(math.cos(math.radians(site.lat_deg)), 0.05))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_title(
        f"{p.asteroid} occults {p.star.star_id}\n"
        f"{p.elements.closest_approach:%Y-%m-%d}, path {p.object.diameter_km:g} km, "
        f"shadow {g.relative_speed_km_s:.2f} km/s"
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _unwrap_near(lon: np.ndarray, centre: float) -> np.ndarray:
    """Longitudes shifted by 360° to lie within ±180° of the station (no jumps across ±180)."""
    return np.asarray((lon - centre + 180.0) % 360.0 - 180.0 + centre, dtype=np.float64)
