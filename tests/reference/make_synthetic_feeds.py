"""Build the synthetic occelmnt files of tests/data/occelmnt/ (kept in git with this script).

Run from the repository root:  python tests/reference/make_synthetic_feeds.py
then:                          python tests/reference/make_occelmnt_reference.py

The events are made so their paths pass over chosen stations on a past night (2023-03-15, inside
the IERS tables bundled with astropy): the star's apparent place (astropy ICRS → TETE) and the
station's fundamental-plane position (astropy ITRS → TETE) at a chosen time fix ``X0, Y0``. The
expected central times and offsets are NOT taken from here: make_occelmnt_reference.py computes
them by brute force from the written files.

Files:
* synthetic_event.xml - one event in today's format (16 Star fields, 14 Object fields, Errors);
  the path runs east-north-east over STATIONS["centre"] (60 km wide, 9.5 km/s).
* old_short_fields.xml - the same event as an old file: no third-order terms, Star with 9
  fields (no apparent place, no magnitude drops), Object with 11 fields, no Earth/Errors/ID.
* feed_with_bad_event.xml - three events: the synthetic event, one whose Elements field 7 is not a
  number, and an event whose path crosses STATIONS["antipode"] (the star is below the horizon at
  the other stations).
* slow_shadow.xml - a distant body's slow shadow (1.0 km/s, 200 km wide) over STATIONS["centre"]:
  the Earth's rotation (0.3 km/s there) bends the track relative to the stations.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import TETE, EarthLocation, SkyCoord
from astropy.time import Time
from astropy.utils import iers

iers.conf.auto_download = False
iers.conf.auto_max_age = None

A_KM = 6378.137
OUT = Path(__file__).resolve().parent.parent / "data" / "occelmnt"
T_PASS = datetime(2023, 3, 15, 22, 0, 0, tzinfo=timezone.utc)
LEAD = timedelta(minutes=5)  # geocentric closest approach is 5 min before the pass

# name → (lat, lon, height m). Offsets across the ENE path: north is the positive side.
STATIONS = [
    ("centre", (48.0, 11.0, 500.0)),
    ("north_inside", (48.15, 11.0, 500.0)),
    ("south_inside", (47.8, 11.0, 500.0)),
    ("north_outside", (48.5, 11.0, 500.0)),
    ("south_outside", (47.0, 11.0, 500.0)),
    ("antipode", (-35.0, -169.0, 0.0)),
]
REFERENCE_FILES = [
    ("synthetic_event.xml", 0),
    ("old_short_fields.xml", 0),
    ("feed_with_bad_event.xml", 2),
    ("slow_shadow.xml", 0),
]


def _station(name: str) -> EarthLocation:
    lat, lon, h = dict(STATIONS)[name]
    return EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, h * u.m)


def _fp(site: EarthLocation, star: SkyCoord, t: Time) -> tuple[float, float, SkyCoord]:
    app = star.transform_to(TETE(obstime=t))
    s = app.cartesian.xyz.value
    e = np.cross([0.0, 0.0, 1.0], s)
    e /= np.linalg.norm(e)
    n = np.cross(s, e)
    obs = site.get_itrs(obstime=t).transform_to(TETE(obstime=t)).cartesian.xyz.to_value(u.km)
    return float(obs @ e / A_KM), float(obs @ n / A_KM), app


def _event(
    ra_h: float,
    dec: float,
    station: str,
    rates: tuple[float, ...],
    star_id: str,
    name: str,
    number: str,
    diameter: float = 60.0,
) -> dict[str, str]:
    star = SkyCoord(ra_h * 15 * u.deg, dec * u.deg, frame="icrs")
    t_pass, t0 = Time(T_PASS), Time(T_PASS - LEAD)
    xi, eta, app = _fp(_station(station), star, t_pass)
    dx, dy, d2x, d2y, d3x, d3y = rates
    h = LEAD.total_seconds() / 3600.0
    x0 = xi - (dx * h + d2x * h**2 + d3x * h**3)
    y0 = eta - (dy * h + d2y * h**2 + d3y * h**3)
    gast = t0.sidereal_time("apparent", "greenwich").deg
    speed = np.hypot(dx, dy) * A_KM / 3600.0
    ut = (T_PASS - LEAD - T_PASS.replace(hour=0)).total_seconds() / 3600.0
    app_ra, app_dec = app.ra.hour, app.dec.deg
    return {
        "Elements": f"SYNTH:test,{diameter / speed:.2f},2023,3,15,{ut:.7f},{x0:.7f},{y0:.7f},"
        f"{dx},{dy},{d2x},{d2y},{d3x},{d3y}",
        "Earth": f"{(app.ra.deg - gast + 180) % 360 - 180:.4f},{app_dec:.4f},0.0,0.0,False",
        "Star": f"{star_id},{ra_h:.8f},{dec:.7f},11.9,11.4,10.8,0.2,0,,{app_ra:.8f},"
        f"{app_dec:.7f},2.85,2.61,0,0,1",
        "Object": f"{number},{name},14.20,{diameter:.3f},2.5000,0,0,0.5,3.2,C,1.5,0,14.3,13.9",
        "Orbit": "0,10.0,2023,3,15,1.0,2.0,3.0,0.1,2.5,2.2,10.0,5.0,0.15",
        "Errors": "1.050,0.0060,0.0030,30,0.0060,Known errors,1.02,0,-1,-1",
        "ID": f"20230315_{star_id[-6:]},60000.5",
    }


def _xml(events: list[dict[str, str]]) -> str:
    lines = ["<Occultations>"]
    for ev in events:
        lines.append("  <Event>")
        lines += [f"    <{k}>{v}</{k}>" for k, v in ev.items()]
        lines.append("  </Event>")
    return "\n".join(lines + ["</Occultations>", ""])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    site = _station("centre")
    lst = Time(T_PASS).sidereal_time("apparent", longitude=site.lon).hour
    rates = (5.2, 1.3, 0.002, -0.001, 0.00001, -0.00002)
    good = _event(lst, 20.0, "centre", rates, "SYNTH0001+200000", "Testia", "99001")
    antipode = _event(
        (lst + 12.0) % 24.0,
        -30.0,
        "antipode",
        (-6.0, 2.5, 0.001, 0.0, 0.0, 0.0),
        "SYNTH0002-300000",
        "Farside",
        "99002",
    )
    (OUT / "synthetic_event.xml").write_text(_xml([good]))
    old = {
        "Elements": ",".join(good["Elements"].split(",")[:12]),
        "Star": ",".join(good["Star"].split(",")[:9]),
        "Object": ",".join(good["Object"].split(",")[:11]),
    }
    (OUT / "old_short_fields.xml").write_text(_xml([old]))
    bad = dict(good, ID="20230315_BROKEN,60000.5")
    cells = bad["Elements"].split(",")
    cells[7] = "abc"
    bad["Elements"] = ",".join(cells)
    (OUT / "feed_with_bad_event.xml").write_text(_xml([good, bad, antipode]))
    slow = _event(
        lst,
        20.0,
        "centre",
        (0.55, 0.12, 0.0005, -0.0002, 0.0, 0.0),
        "SYNTH0003+200003",
        "Slowpoke",
        "99003",
        diameter=200.0,
    )
    (OUT / "slow_shadow.xml").write_text(_xml([slow]))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
