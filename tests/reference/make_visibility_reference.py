"""Independently compute the reference positions that tests/test_visibility.py checks against.

Run from the repository root:  python tests/reference/make_visibility_reference.py
It writes tests/reference/visibility_cases.json (kept in git with this script).

Two independent methods, neither using ekos_occult nor astroplan:

1. astropy AltAz frames directly, at full precision (no ErfaAstromInterpolator), with a dense
   1-second sampling of each window for the extremes;
2. textbook formulas (Meeus, *Astronomical Algorithms*, 2nd ed.: GMST eq. 12.4, rigorous precession
   eq. 21.2-21.4, low-precision Sun ch. 25, alt/az eq. 13.5-13.6), in plain numpy.

Method 2 ignores nutation, aberration and polar motion (≲ 0.01°); the script checks the two agree
to 0.02° before writing anything, then records method 1 as the reference.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_sun
from astropy.time import Time
from astropy.utils import iers
from astropy.utils.exceptions import AstropyWarning
from erfa import ErfaWarning

iers.conf.auto_download = False
iers.conf.auto_max_age = None

SITES = {
    "munich": (48.1, 11.6, 520.0),
    "cape_town": (-33.9, 18.5, 10.0),
}

# name, site, ra_deg, dec_deg, start (UTC), duration_s
CASES = [
    ("star1", "munich", 125.225, -6.2, "2023-02-08T23:29:00", 10.0),
    ("evening_twilight", "munich", 125.225, -6.2, "2023-02-08T16:45:00", 60.0),
    # The Sun sinks through -12° during this window: -11.4° at the start, -13.1° at the end.
    ("sun_crossing", "munich", 125.225, -6.2, "2023-02-08T17:30:00", 600.0),
    ("never_rises", "munich", 125.225, -60.0, "2023-02-08T23:00:00", 60.0),
    ("low", "munich", 30.0, 10.0, "2023-02-08T21:00:00", 120.0),
    # Setting star that crosses 20° during the window (above at the start, below at the end).
    ("crosses_limit", "munich", 30.0, 10.0, "2023-02-08T20:40:00", 600.0),
    # Dec +70 at lat 48.1 is circumpolar; its lower culmination (alt 28.2° at 01:59) falls 24 min
    # into this 2-hour window, between the start, centre and end samples.
    ("lower_culmination", "munich", 0.0, 70.0, "2023-02-09T01:35:00", 7200.0),
    ("southern", "cape_town", 125.225, -6.2, "2023-02-08T22:00:00", 30.0),
    # Beyond the bundled IERS tables: astropy falls back to default Earth orientation.
    ("far_future", "munich", 125.225, -6.2, "2035-02-08T23:29:00", 10.0),
]

OUT = Path(__file__).with_name("visibility_cases.json")


def astropy_altaz(site, ra, dec, times):
    lat, lon, elev = site
    loc = EarthLocation.from_geodetic(lon * u.deg, lat * u.deg, elev * u.m)
    frame = AltAz(obstime=times, location=loc)
    star = SkyCoord(ra * u.deg, dec * u.deg).transform_to(frame)
    sun = get_sun(times).transform_to(frame)
    return star.alt.deg, star.az.deg, sun.alt.deg


def meeus_jd(t: Time) -> np.ndarray:
    return np.asarray(t.utc.jd)


def meeus_precess(ra, dec, jd):
    """J2000 → mean equator of date (Meeus 21.2-21.4)."""
    T = (jd - 2451545.0) / 36525.0
    arc = math.pi / 180.0 / 3600.0
    zeta = (2306.2181 * T + 0.30188 * T**2 + 0.017998 * T**3) * arc
    z = (2306.2181 * T + 1.09468 * T**2 + 0.018203 * T**3) * arc
    theta = (2004.3109 * T - 0.42665 * T**2 - 0.041833 * T**3) * arc
    a0, d0 = np.radians(ra), np.radians(dec)
    A = np.cos(d0) * np.sin(a0 + zeta)
    B = np.cos(theta) * np.cos(d0) * np.cos(a0 + zeta) - np.sin(theta) * np.sin(d0)
    C = np.sin(theta) * np.cos(d0) * np.cos(a0 + zeta) + np.cos(theta) * np.sin(d0)
    return np.arctan2(A, B) + z, np.arcsin(C)


def meeus_gmst(jd):
    T = (jd - 2451545.0) / 36525.0
    deg = 280.46061837 + 360.98564736629 * (jd - 2451545.0) + 0.000387933 * T**2 - T**3 / 38710000
    return np.radians(deg % 360.0)


def meeus_sun(jd):
    """Apparent-ish Sun RA/Dec of date (Meeus ch. 25 low precision, ~0.01°)."""
    T = (jd - 2451545.0) / 36525.0
    L0 = 280.46646 + 36000.76983 * T
    M = np.radians(357.52911 + 35999.05029 * T)
    C = (
        (1.914602 - 0.004817 * T) * np.sin(M)
        + (0.019993 - 0.000101 * T) * np.sin(2 * M)
        + 0.000289 * np.sin(3 * M)
    )
    omega = np.radians(125.04 - 1934.136 * T)
    lam = np.radians(L0 + C - 0.00569 - 0.00478 * np.sin(omega))
    eps = np.radians(23.439291 - 0.0130042 * T + 0.00256 * np.cos(omega))
    return np.arctan2(np.cos(eps) * np.sin(lam), np.cos(lam)), np.arcsin(np.sin(eps) * np.sin(lam))


def meeus_alt(site, ra_rad, dec_rad, jd):
    lat, lon, _ = site
    H = meeus_gmst(jd) + math.radians(lon) - ra_rad
    phi = math.radians(lat)
    return np.degrees(
        np.arcsin(np.sin(phi) * np.sin(dec_rad) + np.cos(phi) * np.cos(dec_rad) * np.cos(H))
    )


def main() -> None:
    # far_future is beyond the IERS/leap-second tables on purpose; its warnings are expected.
    warnings.filterwarnings("ignore", category=AstropyWarning)
    warnings.filterwarnings("ignore", category=ErfaWarning)
    out = {
        "sites": {
            k: {"lat_deg": v[0], "lon_deg": v[1], "elevation_m": v[2]} for k, v in SITES.items()
        },
        "cases": [],
    }
    for name, site_name, ra, dec, start, duration in CASES:
        site = SITES[site_name]
        t0 = Time(start, scale="utc")
        dense = t0 + np.arange(0.0, duration + 0.5, 1.0) * u.s
        centre = t0 + duration / 2 * u.s
        alt, az, sun = astropy_altaz(site, ra, dec, dense)
        c_alt, c_az, c_sun = (float(x) for x in astropy_altaz(site, ra, dec, centre))
        ends = astropy_altaz(site, ra, dec, t0 + [0.0, duration / 2, duration] * u.s)[0]
        jd = meeus_jd(centre)
        m_star = float(meeus_alt(site, *meeus_precess(ra, dec, jd), jd))
        m_sun = float(meeus_alt(site, *meeus_sun(jd), jd))
        assert abs(m_star - c_alt) < 0.02, (name, m_star, c_alt)
        assert abs(m_sun - c_sun) < 0.02, (name, m_sun, c_sun)
        out["cases"].append(
            {
                "name": name,
                "site": site_name,
                "ra_deg": ra,
                "dec_deg": dec,
                "start": start,
                "duration_s": duration,
                "altitude_deg": c_alt,
                "azimuth_deg": c_az,
                "sun_altitude_deg": c_sun,
                "min_altitude_deg": float(alt.min()),
                "max_sun_altitude_deg": float(sun.max()),
                "min_altitude_at_start_centre_end_deg": float(np.min(ends)),
                "meeus_altitude_deg": m_star,
                "meeus_sun_altitude_deg": m_sun,
            }
        )
        print(
            f"{name:18s} alt {c_alt:8.3f} (Meeus {m_star:8.3f}) az {c_az:7.2f} "
            f"sun {c_sun:7.2f} (Meeus {m_sun:7.2f}) min {alt.min():7.3f} "
            f"max sun {sun.max():7.2f}"
        )
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
