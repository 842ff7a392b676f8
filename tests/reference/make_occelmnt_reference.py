"""Independently compute the local central times and chord offsets that the geometry tests check.

Run from the repository root:  python tests/reference/make_occelmnt_reference.py
It writes tests/reference/occelmnt_cases.json (kept in git with this script).

A brute-force, astropy-only computation that shares no code with ekos_occult:

* the occelmnt file is read with the standard library's ``xml.etree`` (fields by index);
* the star's direction of date ``ŝ(t)`` is astropy's ICRS → TETE transform of ``Star`` fields 1-2
  (it does not use the file's apparent place, fields 9-10);
* the asteroid is rebuilt in 3-D from the elements: ``r = Δ·ŝ + a·(X(t)·ê + Y(t)·n̂)`` with ``Δ``
  the distance (``Object`` field 4), ``ê = ẑ×ŝ/|ẑ×ŝ|``, ``n̂ = ŝ×ê`` in the TETE frame (true equator
  and equinox of date) and ``a`` = 6378.137 km;
* the observer is ``EarthLocation.from_geodetic(...).get_itrs(t)`` transformed by astropy to TETE
  (astropy's own UT1 − UTC and polar motion from the bundled IERS tables, WGS84);
* the station's distance from the shadow axis is ``|r − r_obs|·sin(sep)``, with ``sep`` astropy's
  angular separation between the topocentric asteroid direction and the star; it is minimised by a
  1 s grid over the whole passage, then a 1 ms grid ±2 s around the best point, then a parabola;
* the sign: positive when the station lies to the left of the shadow's motion relative to the
  station, as seen from the star (``(station − axis)·(ŝ × motion) > 0``).

It also records the Greenwich apparent sidereal time astropy gives (UT1 from IERS, and UT1 = UTC)
against the file's substellar longitude (``Earth`` field 0).
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import TETE, CartesianRepresentation, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None

A_KM = 6378.137
AU_KM = 149597870.7
HERE = Path(__file__).resolve().parent
REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
DATA = HERE.parent / "data" / "occelmnt"

# Stations spread along and across the real (2731) Cucula path of 2026-02-09 (lat, lon, height m):
# Ethiopia/Somalia, Sudan, Libya, Tunisia, Portugal, mid-Atlantic; on, inside, near the limits and
# outside the 47.9 km path; and one far away (Munich).
REAL_STATIONS = [
    (13.10, 47.00, 400.0),
    (13.30, 47.10, 400.0),
    (12.95, 46.90, 400.0),
    (20.17, 34.44, 350.0),
    (20.45, 34.60, 350.0),
    (19.90, 34.30, 350.0),
    (26.75, 22.01, 500.0),
    (26.92, 22.12, 500.0),
    (26.55, 21.90, 500.0),
    (27.20, 22.30, 500.0),
    (32.94, 8.64, 300.0),
    (33.12, 8.75, 300.0),
    (38.67, -7.00, 200.0),
    (38.50, -7.10, 200.0),
    (38.85, -6.90, 200.0),
    (39.50, -6.50, 200.0),
    (43.53, -27.27, 0.0),
    (48.10, 11.60, 520.0),
]


def read_event(path: Path, index: int = 0) -> dict[str, list[str]]:
    event = ET.parse(path).getroot().findall("Event")[index]
    return {child.tag: (child.text or "").split(",") for child in event}


def _closest(ev: dict[str, list[str]]) -> datetime:
    el = ev["Elements"]
    midnight = datetime(int(el[2]), int(el[3]), int(el[4]), tzinfo=timezone.utc)
    return midnight + timedelta(hours=float(el[5]))


def _poly(ev: dict[str, list[str]], t_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    el = [float(v) if v.strip() else 0.0 for v in ev["Elements"][6:14]]
    el += [0.0] * (8 - len(el))
    x0, y0, dx, dy, d2x, d2y, d3x, d3y = el
    return (
        x0 + dx * t_h + d2x * t_h**2 + d3x * t_h**3,
        y0 + dy * t_h + d2y * t_h**2 + d3y * t_h**3,
    )


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=0)


def axis_offset(
    ev: dict[str, list[str]], site: EarthLocation, times: Time
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance (km) of the station from the shadow axis at each time, and the 3-D vectors."""
    star = ev["Star"]
    icrs = SkyCoord(float(star[1]) * 15 * u.deg, float(star[2]) * u.deg, frame="icrs")
    s = icrs.transform_to(TETE(obstime=times)).cartesian.xyz.value  # unit vectors, (3, n)
    z = np.array([[0.0], [0.0], [1.0]])
    e = _unit(np.cross(z, s, axis=0))
    n = np.cross(s, e, axis=0)
    t_h = (times - Time(_closest(ev))).to_value(u.hour)
    x, y = _poly(ev, t_h)
    delta_km = float(ev["Object"][4]) * AU_KM
    ast = delta_km * s + A_KM * (x * e + y * n)
    obs = (
        site.get_itrs(obstime=times).transform_to(TETE(obstime=times)).cartesian.xyz.to_value(u.km)
    )
    topo = ast - obs
    topo_dir = SkyCoord(CartesianRepresentation(topo * u.km), frame=TETE(obstime=times))
    star_dir = SkyCoord(CartesianRepresentation(s * u.km), frame=TETE(obstime=times))
    sep = topo_dir.separation(star_dir).rad
    dist = np.linalg.norm(topo, axis=0) * np.sin(sep)
    return dist, s, topo


def solve(
    ev: dict[str, list[str]], lat: float, lon: float, height: float
) -> dict[str, float | str]:
    site = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, height * u.m)
    t0 = Time(_closest(ev))
    coarse = t0 + np.arange(-3600.0, 3600.0, 1.0) * u.s
    dist, _, _ = axis_offset(ev, site, coarse)
    best = coarse[int(np.argmin(dist))]
    fine = best + np.arange(-2.0, 2.0, 0.001) * u.s
    dist, s, topo = axis_offset(ev, site, fine)
    i = int(np.clip(np.argmin(dist), 1, len(dist) - 2))
    d0, d1, d2 = dist[i - 1 : i + 2]
    frac = 0.5 * (d0 - d2) / (d0 - 2 * d1 + d2)
    central = fine[i] + frac * 0.001 * u.s
    # Sign: station − axis (= −perpendicular part of topo) against ŝ × motion of the axis.
    perp = topo - np.sum(topo * s, axis=0) * s
    motion = perp[:, i + 1] - perp[:, i - 1]
    left = np.cross(s[:, i], motion)
    sign = np.sign(np.dot(-perp[:, i], left))
    offset = float(sign * (d1 - 0.125 * (d0 - d2) ** 2 / (d0 - 2 * d1 + d2)))
    return {
        "lat_deg": lat,
        "lon_deg": lon,
        "elevation_m": height,
        "central_time": central.utc.isot + "Z",
        "offset_km": offset,
    }


def gast_check(ev: dict[str, list[str]]) -> dict[str, float]:
    if len(ev.get("Earth", [])) < 1 or len(ev["Star"]) < 10:
        return {}
    t0 = Time(_closest(ev))
    app_ra = float(ev["Star"][9]) * 15
    ut1 = t0.sidereal_time("apparent", "greenwich").deg
    t_utc = Time(t0.utc.jd1, t0.utc.jd2, format="jd", scale="utc")
    t_utc.delta_ut1_utc = 0.0
    utc_gast = t_utc.sidereal_time("apparent", "greenwich").deg
    return {
        "file_substellar_lon_deg": float(ev["Earth"][0]),
        "astropy_substellar_lon_ut1_deg": (app_ra - ut1 + 180) % 360 - 180,
        "astropy_substellar_lon_utc_deg": (app_ra - utc_gast + 180) % 360 - 180,
        "delta_ut1_utc_s": float(t0.delta_ut1_utc),
    }


def cases_for(
    path: Path, stations: list[tuple[float, float, float]], index: int = 0
) -> dict[str, object]:
    ev = read_event(path, index)
    return {
        "file": path.name,
        "event_index": index,
        "gast": gast_check(ev),
        "stations": [solve(ev, *st) for st in stations],
    }


def main() -> int:
    import make_synthetic_feeds as synth

    out = {
        "generated_with": {"astropy": __import__("astropy").__version__, "numpy": np.__version__},
        "real": cases_for(REAL, REAL_STATIONS),
        "synthetic": [
            cases_for(DATA / name, [st for _, st in synth.STATIONS], index)
            for name, index in synth.REFERENCE_FILES
        ],
    }
    target = HERE / "occelmnt_cases.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
