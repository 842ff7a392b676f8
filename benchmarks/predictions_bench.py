"""A 5 000-event occelmnt feed against one station: time and peak memory (goal: < 2 s).

Run from the repository root:  python benchmarks/predictions_bench.py [N]

The feed is made from the real (2731) Cucula record, each copy moved to another night and hour
and given another star position, so every event has its own geometry. Measured separately:
reading the XML, the station geometry (vectorised over all events), and the whole chain to
planner events (geometry + windows + exposures). Peak memory by tracemalloc (Python allocations,
numpy included), times as the best of three runs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import math
import sys
import time
import tracemalloc
from pathlib import Path

from ekos_occult.cli import configure_astropy_offline
from ekos_occult.model import Site
from ekos_occult.plan.geometry import station_geometry
from ekos_occult.plan.occelmnt import read_occelmnt
from ekos_occult.plan.predictions import events_from_predictions

REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
SITE = Site(38.5, -7.1, 200.0)


def make_feed(n: int) -> bytes:
    """N events: the real one with the date, UT and star place varied."""
    event = REAL.read_text().split("<Event>", 1)[1].split("</Event>", 1)[0]
    parts = []
    for i in range(n):
        day, hour = 1 + i % 28, (i * 0.37) % 24
        ra, dec = (i * 0.731) % 24, -60 + (i * 7.3) % 120
        text = event.replace("2026,2,9,21.9517108", f"2026,{1 + i % 12},{day},{hour:.7f}")
        text = text.replace("8.19592486,12.8154226", f"{ra:.8f},{dec:.7f}")
        text = text.replace("8.22057671,12.7361762", f"{ra:.8f},{dec:.7f}")
        text = text.replace("20260209_4855.6", f"bench_{i:05d}")
        parts.append(f"<Event>{text}</Event>")
    return ("<Occultations>" + "\n".join(parts) + "</Occultations>").encode()


def timed(label: str, fn, *args):  # type: ignore[no-untyped-def]
    """Best of three plain runs for the time; one more under tracemalloc for the peak memory
    (tracemalloc slows Python code down, so it is not timed)."""
    elapsed = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        result = fn(*args)
        elapsed = min(elapsed, time.perf_counter() - t0)
    tracemalloc.start()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<34} {elapsed:7.3f} s   peak {peak / 1e6:7.1f} MB")
    return result, elapsed


def main() -> int:
    configure_astropy_offline()
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    data = make_feed(n)
    print(f"feed: {n} events, {len(data) / 1e6:.1f} MB, station {SITE}")
    station_geometry(read_occelmnt(make_feed(3), "warm.xml").predictions, SITE)  # imports
    feed, t_read = timed("read occelmnt XML", read_occelmnt, data, "bench.xml")
    geoms, t_geom = timed("station geometry (vectorised)", station_geometry, feed.predictions, SITE)
    result, t_all = timed(
        "geometry + windows + exposures", events_from_predictions, feed.predictions, SITE
    )
    in_path = sum(g.in_path for g in geoms)
    print(
        f"events: {len(result.events)}, in path here: {in_path}, converged: "
        f"{sum(g.converged for g in geoms)}/{n}"
    )
    print(f"total read + chain: {t_read + t_all:.3f} s (goal < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
