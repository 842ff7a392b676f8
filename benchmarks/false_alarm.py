"""How often does ``ekos-occult reduce`` claim an event in pure noise? (calibrates --threshold)

    .venv/bin/python benchmarks/false_alarm.py --frames 300 --curves 300

Draws white-noise light curves with no event, times each and prints the share whose
false-event probability falls at or below several thresholds (the default threshold is 0.001).
The reported probability is for a dip of the found length only, so the best dip over all lengths
makes small values more common than the nominal rate; this measures by how much.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ekos_occult.reduce.timing import time_event  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--curves", type=int, default=300)
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    ps = np.array(
        [
            time_event(
                rng.normal(1000, 20, args.frames), trials=100, fe_trials=2000, seed=i
            ).false_event_probability
            for i in range(args.curves)
        ]
    )
    print(f"{args.curves} noise-only curves of {args.frames} frames")
    for th in (1e-3, 1e-2, 5e-2):
        print(f"  false-event probability <= {th:g}: {np.mean(ps <= th) * 100:5.1f}% of curves")
    print(f"  smallest probability seen: {ps.min():.3g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
