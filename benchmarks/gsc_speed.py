"""How fast is the sandbox's ``gsc`` (the CCD Simulator runs it for every frame)?

    python benchmarks/gsc_speed.py [--runs 50]

Installs ``gsc`` (ekos_occult/kstars/skygsc.py) in a temporary folder against the user's star
table (built first from the Tycho-2 index files if needed) and runs it as the simulator does,
``gsc -c RA DEC -r 48.6 -m 0 17.00 -n 3000`` (the default 76'x61' field's half diagonal), at a
few pointings in turn, ``--runs`` times each. Beside it, the same interpreter doing nothing
(``python -IS -c pass``): the floor any Python ``gsc`` pays per frame. Reports medians and the
90th percentile in milliseconds and the stars printed per call; asserts nothing.

The simulator's frame rate is bounded by this per-frame cost plus its own drawing: at 10
frames/s a frame has 100 ms, of which ``gsc`` takes the figure printed here.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

POINTINGS = [(279.2347, 38.7837), (83.822, -5.391), (10.0, 89.0), (201.298, -11.161), (0.1, 0.1)]


def timed(cmd: Sequence[str]) -> tuple[float, int]:
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, check=True)
    return (time.perf_counter() - t) * 1000.0, out.stdout.count(b"\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args(argv)

    from ekos_occult.kstars import sky

    t0 = time.perf_counter()
    table = sky.ensure_star_table()
    print(
        f"star table {table} ({table.stat().st_size / 1e6:.0f} MB) ready in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        gsc = sky.install_gsc(Path(tmp), table, sky.SkyFiles(Path(tmp) / "sky"))
        gsc_ms: list[float] = []
        bare_ms: list[float] = []
        stars: list[int] = []
        for _ in range(args.runs):
            for ra, dec in POINTINGS:
                ms, n = timed([str(gsc), "-c", f"{ra:8.6f}", f"{dec:+8.6f}", "-r", "48.6", "-m",
                               "0", "17.00", "-n", "3000"])  # fmt: skip
                gsc_ms.append(ms)
                stars.append(n)
                bare_ms.append(timed([sys.executable, "-IS", "-c", "pass"])[0])
    q = statistics.quantiles
    print(f"gsc ({len(gsc_ms)} calls): median {statistics.median(gsc_ms):.1f} ms, "
          f"p90 {q(gsc_ms, n=10)[-1]:.1f} ms; stars per call median {statistics.median(stars):.0f}"
          f" (min {min(stars)}, max {max(stars)})")  # fmt: skip
    print(f"python -IS -c pass: median {statistics.median(bare_ms):.1f} ms, "
          f"p90 {q(bare_ms, n=10)[-1]:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
