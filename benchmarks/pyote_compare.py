"""Compare ekos-occult's event timing with the PyOTE core on the same synthetic light curves.

PyOTE is not a dependency of ekos-occult. Run this script with a SEPARATE throw-away Python that
has numpy and numba (PyOTE's solver needs numba), pointing it at an unpacked PyOTE wheel:

    python3 -m venv /tmp/pyote_venv && /tmp/pyote_venv/bin/pip install numpy numba matplotlib
    pip download --no-deps pyote -d /tmp/pyote_dl
    unzip /tmp/pyote_dl/pyote-*.whl -d /tmp/pyote_dl/wheel
    /tmp/pyote_venv/bin/python benchmarks/pyote_compare.py --pyote /tmp/pyote_dl/wheel/pyoteapp

For each scenario (drop-to-noise ratio, correlated noise, short event, ...) it draws many noise
realisations of a square-wave event with sub-frame edges, times each with both solvers and prints
the D and R error distributions side by side (in frames), plus how often our 68% and 95% error
bars contain the truth. ``--real FILE`` also runs both on a real PyMovie CSV.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ekos_occult.reduce.timing import _weights, time_event  # noqa: E402


@dataclass(frozen=True)
class Scenario:
    name: str
    dnr: float  # drop / sigma_b
    length: float  # event length in frames
    rho: float = 0.0  # AR(1) correlation of the noise
    sigma_a_ratio: float = 1.0  # sigma_a / sigma_b
    n: int = 300


SCENARIOS = [
    Scenario("DNR 8, white", 8, 40.5),
    Scenario("DNR 4, white", 4, 40.5),
    Scenario("DNR 2.5, white", 2.5, 40.5),
    Scenario("DNR 4, AR(1) rho=0.5", 4, 40.5, rho=0.5),
    Scenario("DNR 4, sigma_a=sigma_b/2", 4, 40.5, sigma_a_ratio=0.5),
    Scenario("short: 4.5 frames, DNR 5", 5, 4.5),
]


def synth(sc: Scenario, rng: np.random.Generator) -> tuple[np.ndarray, float, float]:
    d = 100 + rng.uniform(0, 1)
    r = d + sc.length + rng.uniform(-0.5, 0.5)
    w = _weights(sc.n, np.array([d]), np.array([r]))[0]
    sigma_b = 20.0
    b, a = 1000.0, 1000.0 - sc.dnr * sigma_b
    e = rng.standard_normal(sc.n)
    if sc.rho:
        for i in range(1, sc.n):
            e[i] = sc.rho * e[i - 1] + math.sqrt(1 - sc.rho**2) * e[i]
    sigma = sigma_b * (1 + (sc.sigma_a_ratio - 1) * w)
    return b + (a - b) * w + sigma * e, d, r


def pyote_solve(y: np.ndarray) -> tuple[float, float]:
    import iterative_logl_functions as ilf  # type: ignore[import-not-found]
    import solverUtils  # type: ignore[import-not-found]

    n = y.size
    last = None
    for item in ilf.find_best_event_from_min_max_size(y, 0, n - 1, 1, n - 2):
        last = item
    assert last is not None
    if last[0] == -1.0:
        return math.nan, math.nan
    _, _, d, r, b, a, sb, sa, _ = last
    d, r = int(d), int(r)
    base = np.concatenate([y[:d], y[r:]])
    ev = y[d:r]
    b, sb = float(np.mean(base)), max(float(np.std(base)), 0.1)
    a, sa = float(np.mean(ev)), max(float(np.std(ev)), 0.1) if ev.size > 1 else sb
    (dd, rr), *_ = solverUtils.subFrameAdjusted(
        eventType="DandR",
        cand=(d, r),
        B=b,
        A=a,
        sigmaA=sa,
        sigmaB=sb,
        yValues=y,
        left=0,
        right=n - 1,
    )
    return float(dd), float(rr)


def stats(err: np.ndarray) -> str:
    ok = np.isfinite(err)
    e = np.abs(err[ok])
    fail = 1 - ok.mean()
    return (
        f"rms {math.sqrt(np.mean(e**2)):6.3f}  med {np.median(e):5.3f}  "
        f"p95 {np.percentile(e, 95):5.3f}  >2fr {np.mean(e > 2) * 100:4.1f}%  "
        f"miss {fail * 100:4.1f}%"
    )


def run(sc: Scenario, trials: int, mc: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {
        k: np.full(trials, np.nan)
        for k in (
            "ours_d",
            "ours_r",
            "pyote_d",
            "pyote_r",
            "bar68_d",
            "bar95_d",
            "bar68_r",
            "bar95_r",
        )
    }
    for i in range(trials):
        y, d, r = synth(sc, rng)
        res = time_event(y, trials=mc, fe_trials=2000, seed=i)
        if res.event:
            out["ours_d"][i], out["ours_r"][i] = res.d - d, res.r - r
            if res.errors is not None:
                out["bar68_d"][i], out["bar95_d"][i] = res.errors.d68, res.errors.d95
                out["bar68_r"][i], out["bar95_r"][i] = res.errors.r68, res.errors.r95
        pd, pr = pyote_solve(y)
        out["pyote_d"][i], out["pyote_r"][i] = pd - d, pr - r
    return out


def coverage(err: np.ndarray, bar: np.ndarray) -> float:
    ok = np.isfinite(err) & np.isfinite(bar)
    return float(np.mean(np.abs(err[ok]) <= bar[ok])) * 100


def plot(results: list[tuple[Scenario, dict[str, np.ndarray]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 2, figsize=(10, 2.4 * len(results)))
    for row, (sc, out) in zip(axes, results, strict=True):
        for ax, edge in zip(row, ("d", "r"), strict=True):
            ours, pyo = out[f"ours_{edge}"], out[f"pyote_{edge}"]
            lim = max(0.5, float(np.nanpercentile(np.abs(np.concatenate([ours, pyo])), 99)))
            bins = np.linspace(-lim, lim, 61)
            ax.hist(pyo[np.isfinite(pyo)], bins, alpha=0.5, label="PyOTE core")
            ax.hist(ours[np.isfinite(ours)], bins, alpha=0.5, label="ekos-occult")
            ax.set_title(f"{sc.name}: {edge.upper()} error (frames)", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyote", required=True, help="path to the unpacked pyoteapp/ directory")
    ap.add_argument("--trials", type=int, default=400, help="noise realisations per scenario")
    ap.add_argument("--mc", type=int, default=1000, help="our Monte-Carlo trials per fit")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--plot", type=Path, help="write a histogram figure (PNG) here")
    ap.add_argument(
        "--real",
        type=Path,
        action="append",
        default=[],
        help="also time this PyMovie CSV with both (repeatable)",
    )
    ap.add_argument(
        "--write-reference",
        type=Path,
        help="write PyOTE's answers for the --real files as JSON (test reference)",
    )
    ap.add_argument(
        "--check-csv",
        type=Path,
        action="append",
        default=[],
        help="read this CSV (e.g. from `ekos-occult reduce --csv`) with PyOTE's own "
        "csvreader and print what it sees (repeatable)",
    )
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.pyote).resolve()))
    for path in args.check_csv:
        check_csv(path)
    results = []
    for k, sc in enumerate(SCENARIOS if args.trials > 0 else []):
        t0 = time.time()
        out = run(sc, args.trials, args.mc, args.seed + k)
        results.append((sc, out))
        print(f"\n== {sc.name}  ({args.trials} realisations, {time.time() - t0:.0f} s)")
        for edge in ("d", "r"):
            print(f"  {edge.upper()}  PyOTE core : {stats(out[f'pyote_{edge}'])}")
            print(
                f"  {edge.upper()}  ekos-occult: {stats(out[f'ours_{edge}'])}"
                f"   68% bar covers {coverage(out[f'ours_{edge}'], out[f'bar68_{edge}']):4.1f}%"
                f"  95% bar covers {coverage(out[f'ours_{edge}'], out[f'bar95_{edge}']):4.1f}%"
            )
    refs = [real(path) for path in args.real]
    if args.write_reference:
        import json

        args.write_reference.write_text(json.dumps(refs, indent=2) + "\n")
        print(f"reference written: {args.write_reference}")
    if args.plot:
        plot(results, args.plot)
        print(f"\nfigure: {args.plot}")
    return 0


def check_csv(path: Path) -> None:
    """Open a light curve with PyOTE's csvreader, as PyOTE's GUI does."""
    import csvreader  # type: ignore[import-not-found]

    frames, times, values, ref1, _, _, _, names, headers = csvreader.readLightCurve(
        str(path), pymovieColumnType="signal", pymovieDict={}
    )
    print(
        f"\n== PyOTE csvreader on {path.name}: kind {csvreader.getFileKind(str(path))}, "
        f"{len(frames)} frames, apertures {names}"
    )
    print(
        f"  first row: frame {frames[0]} time {times[0]} target {values[0]} "
        f"ref {ref1[0] if ref1 else None}"
    )
    print(f"  date header: {[h for h in headers if h.startswith('# date at frame')]}")


def real(path: Path) -> dict[str, object]:
    """Time a real light curve with both; PyOTE's D/R as frame positions and UTC times."""
    from ekos_occult.reduce.cadence import check_cadence
    from ekos_occult.reduce.lightcurve_read import read_lightcurve
    from ekos_occult.reduce.timing import position_to_time

    lc = read_lightcurve(path)
    y = lc.target.signal
    res = time_event(y)
    pd, pr = pyote_solve(y)
    print(f"\n== {path.name}: {y.size} frames")
    print(f"  PyOTE core : D {pd:8.3f}  R {pr:8.3f}  (frame positions)")
    if res.errors is not None:
        print(
            f"  ekos-occult: D {res.d:8.3f} ± {res.errors.d68:.3f}  R {res.r:8.3f} ± "
            f"{res.errors.r68:.3f}  (68%), p_false {res.false_event_probability:.2g}"
        )
    else:
        print(f"  ekos-occult: no event (p_false {res.false_event_probability:.2g})")
    out: dict[str, object] = {
        "file": path.name,
        "pyote_D_position": pd,
        "pyote_R_position": pr,
        "producer": "benchmarks/pyote_compare.py --trials 0 --real FILE "
        "--write-reference OUT (PyOTE 5.7.11 core: "
        "find_best_event_from_min_max_size + subFrameAdjusted)",
    }
    if lc.times_s is not None:
        exposure = check_cadence(lc.times_s).cadence_s
        for key, pos in (("pyote_D_utc", pd), ("pyote_R_utc", pr)):
            t = lc.utc(position_to_time(pos, lc.times_s, exposure))
            out[key] = t.isoformat() if t is not None else None
    return out


if __name__ == "__main__":
    raise SystemExit(main())
