"""Write the quick start's sample night as it would be tonight: the events of
``sample_sequences/tonight.csv`` (names, durations, magnitudes), moved to the next dark hours at
the sample site and pointed near the meridian, so Ekos shows every job ahead of *now* (a job set
in the past turns Invalid as soon as the scheduler evaluates it).

    python scripts/sample_night.py SAMPLE_CSV CONFIG OUT_CSV

The site is the config's ``[site]``/``[station]``; "dark" is the Sun below the config's
``max_sun_altitude_deg`` less 3 degrees for the whole night's span. Positions: each event's star
is placed on the meridian at its start, 10 degrees south of the zenith (so the plan keeps it).
"""

from __future__ import annotations

import csv
import math
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from ekos_occult.model import Site
from ekos_occult.plan.earthsky import gast_rad, sun_altitude_deg
from ekos_occult.settings import load_settings

SPACING = timedelta(minutes=15)
FIRST_AFTER = timedelta(minutes=20)


def _dark_start(site: Site, limit_deg: float, span: timedelta, now: datetime) -> datetime:
    """The first minute from ``now + FIRST_AFTER`` on after which the Sun stays below the limit
    for ``span``; searched over the next 48 hours at one-minute steps."""
    t0 = now + FIRST_AFTER
    minutes = np.arange(0, 48 * 60 + int(span.total_seconds() // 60) + 1)
    unix = t0.timestamp() + 60.0 * minutes
    dark = sun_altitude_deg(site, unix) < limit_deg
    need = int(span.total_seconds() // 60) + 1
    run = 0
    for i, ok in enumerate(dark):
        run = run + 1 if ok else 0
        if run >= need:
            return t0 + timedelta(minutes=int(i - need + 1))
    raise SystemExit("no dark hours at the sample site in the next 48 hours")


def main(argv: list[str]) -> int:
    sample, config, out = (Path(a) for a in argv)
    settings = load_settings(config, default_config=None, overrides={})
    site = settings.site
    rows = list(csv.DictReader(sample.open(encoding="utf-8")))
    span = SPACING * len(rows) + timedelta(seconds=settings.rules.lead_s) + timedelta(minutes=5)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = _dark_start(site, settings.rules.max_sun_altitude_deg - 3.0, span, now)
    start += timedelta(seconds=settings.rules.lead_s)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["name", "ra", "dec", "start", "duration", "mag"])
        for k, row in enumerate(rows):
            when = start + SPACING * k
            lst_deg = math.degrees(float(gast_rad(np.array([when.timestamp()]))[0])) + site.lon_deg
            writer.writerow(
                [
                    row["name"],
                    f"{lst_deg % 360.0:.4f}",
                    f"{site.lat_deg - 10.0:.4f}",
                    when.strftime("%Y-%m-%dT%H:%M:%S"),
                    row["duration"],
                    row["mag"],
                ]
            )
    print(f"{len(rows)} events from {start:%Y-%m-%d %H:%M} UTC -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
