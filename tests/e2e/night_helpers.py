"""Helpers for the end-to-end night tests: stars above the sandbox's horizon now, events CSV,
the Track-only config, and reading back what a night left (journal, SER, control frames)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ekos_occult.model import Site
from ekos_occult.night.journal import read_journal

# Bright stars, J2000 RA/Dec in degrees (Hipparcos): wherever and whenever the test runs, some
# are well above the horizon.
BRIGHT_STARS = {
    "Vega": (279.2347, 38.7837),
    "Capella": (79.1723, 45.9980),
    "Deneb": (310.3580, 45.2803),
    "Altair": (297.6958, 8.8683),
    "Aldebaran": (68.9802, 16.5093),
    "Arcturus": (213.9153, 19.1824),
    "Betelgeuse": (88.7929, 7.4071),
    "Rigel": (78.6345, -8.2016),
    "Procyon": (114.8255, 5.2250),
    "Pollux": (116.3290, 28.0262),
    "Regulus": (152.0930, 11.9672),
    "Spica": (201.2983, -11.1613),
    "Dubhe": (165.9320, 61.7510),
    "Alkaid": (206.8852, 49.3133),
    "Mirfak": (51.0807, 49.8612),
    "Hamal": (31.7934, 23.4624),
    "Alpheratz": (2.0969, 29.0904),
    "Kochab": (222.6764, 74.1555),
    "Schedar": (10.1268, 56.5373),
    "Sirius": (101.2872, -16.7161),
    "Antares": (247.3519, -26.4320),
    "Fomalhaut": (344.4127, -29.6222),
    "Canopus": (95.9880, -52.6957),
    "Achernar": (24.4285, -57.2368),
    "Acrux": (186.6496, -63.0991),
}
TRACK_ONLY = '[ekos]\nsteps = ["Track"]\n'
"""Config for the sandbox: Align cannot solve the CCD simulator's noise."""


@dataclass(frozen=True)
class NightEvent:
    """One event written to the CSV."""

    name: str
    ra_deg: float
    dec_deg: float
    start: datetime
    duration_s: float
    exposure_s: float

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)


def stars_above(site: Site, when: datetime, count: int, min_alt_deg: float = 35.0) -> list[str]:
    """The ``count`` highest bright stars at ``when``, each above ``min_alt_deg``."""
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time

    names = list(BRIGHT_STARS)
    coords = SkyCoord(
        [BRIGHT_STARS[n][0] for n in names] * u.deg, [BRIGHT_STARS[n][1] for n in names] * u.deg
    )
    loc = EarthLocation(
        lat=site.lat_deg * u.deg, lon=site.lon_deg * u.deg, height=site.elevation_m * u.m
    )
    alts = coords.transform_to(AltAz(obstime=Time(when), location=loc)).alt.deg
    ranked = sorted((a, n) for a, n in zip(alts, names, strict=True) if a > min_alt_deg)
    chosen = [n for _, n in reversed(ranked)][:count]
    assert len(chosen) == count, f"only {len(chosen)} bright stars above {min_alt_deg} deg"
    return chosen


def write_night_csv(
    folder: Path,
    site: Site,
    now: datetime,
    offsets_s: Sequence[float],
    duration_s: float,
    exposure_s: float,
) -> tuple[Path, list[NightEvent]]:
    """An events CSV with one event per offset (seconds from ``now``), on stars up then."""
    starts = [(now + timedelta(seconds=o)).replace(microsecond=0) for o in offsets_s]
    stars = stars_above(site, starts[-1], len(starts))
    events = [
        NightEvent(f"{star} e2e", *BRIGHT_STARS[star], start, duration_s, exposure_s)
        for star, start in zip(stars, starts, strict=True)
    ]
    lines = ["name,ra,dec,start,duration,mag,exposure"]
    lines += [
        f"{e.name},{e.ra_deg},{e.dec_deg},{e.start:%Y-%m-%dT%H:%M:%S},{e.duration_s:g},"
        f"1.0,{e.exposure_s:g}"
        for e in events
    ]
    path = folder / "events.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, events


def run_args(sandbox: Any, csv: Path, out: Path, config: Path) -> list[str]:
    """``ekos-occult run`` arguments for the sandbox: short lead, Sun rule off, small ROI."""
    site = sandbox.site
    return [
        "--config",
        str(config),
        "run",
        str(csv),
        "--bus",
        sandbox.bus_address,
        "--state-dir",
        str(sandbox.state_dir),
        "--site",
        f"{site.lat_deg},{site.lon_deg},{site.elevation_m}",
        "--out",
        str(out),
        "--lead",
        "60",
        "--min-altitude",
        "20",
        "--max-sun-altitude",
        "90",
        "--roi",
        "0,0,320,240",
    ]


def event_lines(out: Path) -> list[dict[str, Any]]:
    """The journal's one-line-per-finished-event entries."""
    return [e for e in read_journal(out / "journal.jsonl") if e["type"] == "event"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
