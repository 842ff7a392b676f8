"""Whole-process speed of ``ekos-occult`` as a user meets it (issue 16: fast on a Raspberry Pi).

    python benchmarks/startup_bench.py [--runs 7] [--quick]

Every figure is a whole process (``python -m ekos_occult ...``, what the ``ekos-occult`` script
runs), started ``--runs`` times in turn with the others (interleaved, so a busy machine slows
all of them alike); the median is reported, and each ratio is taken between medians measured
side by side in this one run. Peak memory is the process's own peak RSS (``VmHWM`` read at
exit). Targets (issue 16):

* ``plan`` of a 5-row CSV <= 4x ``python -c "import numpy"``; ``reduce --help`` and
  ``check --help`` <= 2x;
* ``plan`` of a year-long 5 000-event occelmnt feed <= 1.25x the same events moved into one night;
* ``plan`` of 10 000 events prints its default table in <= 2 s (the table alone, in process;
  the whole process is shown too);
* ``plan --json`` of 100 000 events peaks <= 400 MiB.

The feeds: the real (2731) Cucula occelmnt record copied 5 000 times with other stars and times
(benchmarks/predictions_bench.py's recipe, star places kept apparent = ICRS as there), spread
over the 12 months of 2026 or all on 2026-02-09; CSVs of random events over one night
(benchmarks/plan_bench.py's generator). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from plan_bench import random_csv  # noqa: E402

REAL = Path("/work/shared/data/occelmnt/2731_Cucula_20260209.occelmnt.xml")
SITE = "38.5,-7.1,200"
NOW = "2023-02-08T12:00:00"
FEED_NOW = "2025-12-01T00:00:00"

# Reads the process's peak RSS at exit, then runs the CLI exactly as ``python -m ekos_occult``.
_PEAK_WRAPPER = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('PEAK_KB ' + line.split()[1] + '\\n')\n"
    "atexit.register(_peak)\n"
    "from ekos_occult.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def feed(n: int, *, one_night: bool) -> bytes:
    """n occelmnt events from the real record: other stars, hours and (unless one_night) dates."""
    event = REAL.read_text().split("<Event>", 1)[1].split("</Event>", 1)[0]
    parts = []
    for i in range(n):
        month, day = (2, 9) if one_night else (1 + i % 12, 1 + (i * 7) % 28)
        hour = (i * 0.37) % 24
        ra, dec = (i * 0.731) % 24, -60 + (i * 7.3) % 120
        text = event.replace("2026,2,9,21.9517108", f"2026,{month},{day},{hour:.7f}")
        text = text.replace("8.19592486,12.8154226", f"{ra:.8f},{dec:.7f}")
        text = text.replace("8.22057671,12.7361762", f"{ra:.8f},{dec:.7f}")
        text = text.replace("20260209_4855.6", f"bench_{i:05d}")
        parts.append(f"<Event>{text}</Event>")
    return ("<Occultations>" + "\n".join(parts) + "</Occultations>").encode()


def cli(*args: str) -> list[str]:
    """The command line of ``ekos-occult ARGS`` (what the console script runs)."""
    return [sys.executable, "-m", "ekos_occult", *args]


def run_once(cmd: Sequence[str], *, peak: bool = False) -> tuple[float, float | None]:
    """Seconds of one whole process (output to /dev/null) and, if asked, its peak RSS (MiB).

    With ``peak`` the CLI runs under a wrapper that prints its ``VmHWM`` at exit."""
    if peak:
        cmd = [sys.executable, "-c", _PEAK_WRAPPER, *cmd[3:]]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr}")
    mib = None
    if peak:
        kb = [ln.split()[1] for ln in done.stderr.splitlines() if ln.startswith("PEAK_KB ")]
        mib = int(kb[-1]) / 1024.0
    return elapsed, mib


def medians(cases: dict[str, list[str]], runs: int) -> dict[str, float]:
    """Median seconds per case, the cases run in turn ``runs`` times (after one warm-up each)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for argv in cases.values():
        run_once(argv)  # warm the page cache and .pyc files
    for _ in range(runs):
        for name, argv in cases.items():
            times[name].append(run_once(argv)[0])
    return {name: statistics.median(t) for name, t in times.items()}


def make_plan_seconds(xml: bytes) -> float:
    """In process: the best of three ``make_plan`` calls on the feed's events (geometry done)."""
    from datetime import datetime, timezone

    from ekos_occult.model import PlanRules
    from ekos_occult.plan.occelmnt import read_occelmnt
    from ekos_occult.plan.planner import make_plan
    from ekos_occult.plan.predictions import events_from_predictions
    from ekos_occult.settings import parse_site

    site = parse_site(SITE)
    events = events_from_predictions(read_occelmnt(xml, "feed.xml").predictions, site).events
    now = datetime.fromisoformat(FEED_NOW).replace(tzinfo=timezone.utc)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        make_plan(events, site, now, PlanRules())
        best = min(best, time.perf_counter() - t0)
    return best


def table_seconds(csv_path: Path, show_all: bool = False) -> tuple[float, int]:
    """In process: plan the CSV, then time rendering and writing the default table."""
    from datetime import datetime, timezone

    from ekos_occult.app.planning import PlanOptions, build_plan
    from ekos_occult.settings import load_settings, parse_site
    from ekos_occult.views.planview import render_table

    now = datetime.fromisoformat(NOW).replace(tzinfo=timezone.utc)
    settings = load_settings(None, overrides={"site": {"site": parse_site("48.1,11.6,520")}})
    plan = build_plan(PlanOptions(str(csv_path), now=now), settings)
    sink = io.StringIO()
    t0 = time.perf_counter()
    with redirect_stdout(sink):
        sys.stdout.write(render_table(plan, width=160, show_all=show_all))
    return time.perf_counter() - t0, len(sink.getvalue().splitlines())


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="3 runs, 10 000 (not 100 000) JSON rows")
    args = p.parse_args(argv)
    runs = 3 if args.quick else args.runs
    json_rows = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="ekos-occult-bench-") as tmp:
        d = Path(tmp)
        (d / "five.csv").write_text(random_csv(5, 1), encoding="utf-8")
        (d / "ten_k.csv").write_text(random_csv(10_000, 1), encoding="utf-8")
        (d / "big.csv").write_text(random_csv(json_rows, 2), encoding="utf-8")
        (d / "year.xml").write_bytes(feed(5000, one_night=False))
        (d / "night.xml").write_bytes(feed(5000, one_night=True))
        plan5 = cli("plan", str(d / "five.csv"), "--site", "48.1,11.6,520", "--now", NOW)
        startup = {
            'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
            "plan (5-row CSV)": plan5,
            "reduce --help": cli("reduce", "--help"),
            "check --help": cli("check", "--help"),
            "predictions --help": cli("predictions", "--help"),
        }
        m = medians(startup, runs)
        base = m['python -c "import numpy"']
        print(f"Whole-process medians of {runs} interleaved runs ({sys.executable}):")
        targets = {"plan (5-row CSV)": 4.0, "reduce --help": 2.0, "check --help": 2.0}
        for name, seconds in m.items():
            target = targets.get(name)
            verdict = (
                ""
                if target is None
                else f"  target <= {target:g}x: "
                + ("met" if seconds / base <= target else "NOT met")
            )
            print(f"  {name:28s} {seconds:7.3f} s  {seconds / base:5.2f}x numpy{verdict}")

        mp_year = make_plan_seconds((d / "year.xml").read_bytes())
        mp_night = make_plan_seconds((d / "night.xml").read_bytes())
        print(
            f"make_plan alone on those 5 000 events: over a year {mp_year:.3f} s, in one night "
            f"{mp_night:.3f} s: {mp_year / mp_night:.2f}x"
        )
        year = cli("plan", str(d / "year.xml"), "--site", SITE, "--now", FEED_NOW)
        night = cli("plan", str(d / "night.xml"), "--site", SITE, "--now", FEED_NOW)
        feeds = medians({"year": year, "night": night}, runs)
        ratio = feeds["year"] / feeds["night"]
        print(
            f"plan of 5 000 occelmnt events: over a year {feeds['year']:.3f} s, in one night "
            f"{feeds['night']:.3f} s: {ratio:.2f}x (target <= 1.25x: "
            f"{'met' if ratio <= 1.25 else 'NOT met'})"
        )

        ten_k = cli("plan", str(d / "ten_k.csv"), "--site", "48.1,11.6,520", "--now", NOW)
        whole = medians({"10k": ten_k}, runs)["10k"]
        table_s, lines = table_seconds(d / "ten_k.csv")
        all_s, all_lines = table_seconds(d / "ten_k.csv", show_all=True)
        print(
            f"plan of 10 000 CSV events: default table {table_s:.3f} s ({lines} lines; target "
            f"<= 2 s: {'met' if table_s <= 2.0 else 'NOT met'}), --all table {all_s:.3f} s "
            f"({all_lines} lines); whole process with the default table {whole:.3f} s"
        )

        big = cli("plan", str(d / "big.csv"), "--site", "48.1,11.6,520", "--now", NOW, "--json")
        seconds, mib = run_once(big, peak=True)
        assert mib is not None
        verdict = (
            ""
            if json_rows != 100_000
            else "; target <= 400 MiB: " + ("met" if mib <= 400 else "NOT met")
        )
        print(
            f"plan --json of {json_rows} CSV events: {seconds:.2f} s whole process, "
            f"peak RSS {mib:.0f} MiB{verdict}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
