"""Timing bias on the sandbox sky: D and R before and after reduce's default timestamp correction.

Runs ``ekos-occult rehearse`` on a private sandbox (start it in your own network namespace, see
HELPERS/README) with events at two exposures (default 0.05 s and 0.2 s): the sandbox dims a
catalogue star between known UTC instants, the night records it as ``run`` does, and every SER
is reduced twice:

- **before**: ``reduce --latency 0`` (the INDI host stamps taken as they are);
- **after**: ``reduce`` with no ``--latency`` (what ``rehearse`` reports): one exposure plus the
  camera's acquisition delay (``[camera]``; measured for the CCD Simulator) subtracted.

Reports, per exposure, the bias (measured - injected) of D and R in seconds and in frames, and
whether every corrected edge is within half a frame of the truth. Exit 0 when it is.

The timeline, measured directly: the sandbox's ``gsc`` logs the instant it samples the sky for
every frame of an occulted field (``<state>/sky/samples.log``); each SER stamp is paired with
the last sample before it, giving per recording the stamp - sample delay, the frame interval
and the sampling offset (sample - previous stamp), medians and 10/90% points. The machine's
load (``/proc/loadavg``) is recorded before and after.

    unshare --net --fork bash -c 'ip link set lo up; .venv/bin/python benchmarks/timing_bias.py'

Options: ``--exposures 0.05,0.2``, ``--per-exposure 2``, ``--state-dir DIR``, ``--json``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "ekos_occult"]
SITE = (48.2082, 16.3738, 190.0)  # Vienna: the sandbox e2e's site
DURATION_S = 8.0
ROI = "480,392,320,240"  # the middle of the 1280x1024 simulator frame


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


def _lone_stars(ra0: float, dec0: float, count: int) -> list[tuple[float, float, float]]:
    """Tycho-2 stars of magnitude 5.5-7.5 near (ra0, dec0), each alone within 20', 3 deg apart."""
    from ekos_occult.kstars import skygsc
    from ekos_occult.kstars.sky import ensure_star_table

    table = skygsc.Table(str(ensure_star_table()))
    chosen: list[tuple[float, float, float]] = []
    for ra, dec, mag, _ in sorted(
        skygsc.query(table, ra0, dec0, 8.0, 5.5, 7.5), key=lambda s: abs(s[1] - dec0)
    ):
        if len(skygsc.query(table, ra, dec, 20.0 / 60.0, -2.0, mag + 1.0)) != 1:
            continue
        if all(skygsc.separation_deg(ra, dec, c[0], c[1]) > 3.0 for c in chosen):
            chosen.append((ra, dec, mag))
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"no {count} lone stars near RA {ra0:.1f} Dec {dec0:.1f}")


def _events_csv(folder: Path, exposures: list[float], per: int) -> Path:
    import astropy.units as u
    from astropy.time import Time

    from ekos_occult.settings import configure_astropy_offline

    configure_astropy_offline()
    now = datetime.now(timezone.utc)
    lst = Time(now).sidereal_time("mean", longitude=SITE[1] * u.deg).deg
    wanted = [e for e in exposures for _ in range(per)]
    stars = _lone_stars(lst, SITE[0], len(wanted))
    lines = ["name,ra,dec,start,duration,mag,exposure"]
    rng = random.Random()  # durations vary by up to a second: R's phase among the frames
    # differs from D's (D's is set by the recording's start, much the same every time)
    for i, ((ra, dec, mag), exp) in enumerate(zip(stars, wanted, strict=True)):
        start = (now + timedelta(seconds=1800 + 600 * i)).replace(microsecond=0)
        lines.append(
            f"bias {exp:g}s {i + 1},{ra:.6f},{dec:.6f},{start:%Y-%m-%dT%H:%M:%S},"
            f"{DURATION_S + rng.random():.3f},{mag:.2f},{exp:g}"
        )
    path = folder / "events.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _reduced(file: str, extra: list[str]) -> dict[str, Any] | None:
    out = _run(["reduce", file, *extra, "--json"], timeout=600)
    return json.loads(out.stdout) if out.returncode == 0 else None


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="ascii").split()[:3])
    except OSError:
        return "unknown"


def _samples(path: Path) -> list[float]:
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except OSError:
        return []
    return sorted(float(line.split()[0]) for line in lines if line.strip())


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if len(values) < 3:
        return None
    v = sorted(values)
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    return {
        "median": round(statistics.median(v), 4),
        "p10": round(pick(0.1), 4),
        "p90": round(pick(0.9), 4),
    }


def _bracket(samples: list[float], t: float) -> tuple[float, float] | None:
    """The last sample before ``t`` and the first at or after it (None: not both near)."""
    import bisect

    j = bisect.bisect_left(samples, t)
    if j == 0 or j >= len(samples) or samples[j] - samples[j - 1] > 2.0:
        return None
    return samples[j - 1], samples[j]


def timeline(file: str, samples: list[float]) -> dict[str, Any] | None:
    """Pair each SER stamp with the last gsc sample before it: stamp - sample, intervals."""
    import bisect

    from ekos_occult.video.ser import open_ser, ticks_to_datetime

    ser = open_ser(Path(file))
    if ser.timestamps is None or not samples:
        return None
    stamps = [ticks_to_datetime(int(t)).timestamp() for t in ser.timestamps if t > 0]
    delay, offset, paired = [], [], []
    for i, w in enumerate(stamps):
        j = bisect.bisect_left(samples, w) - 1
        if j < 0 or w - samples[j] > 2.0:
            continue
        delay.append(w - samples[j])
        paired.append(samples[j])
        if i:
            offset.append(samples[j] - stamps[i - 1])
    dw = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    dg = [b - a for a, b in zip(paired, paired[1:], strict=False) if b > a]
    return {
        "frames": len(stamps),
        "paired": len(delay),
        "stamp_minus_sample_s": _quantiles(delay),
        "stamp_interval_s": _quantiles(dw),
        "sample_interval_s": _quantiles(dg),
        "sample_after_previous_stamp_s": _quantiles(offset),
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="timing-bias-"))
    state = args.state_dir or str(work / "sandbox")
    config = work / "config.toml"
    config.write_text('[ekos]\nsteps = ["Track"]\n', encoding="utf-8")
    site = ",".join(f"{v:g}" for v in SITE)
    load_before = _load()
    started = _run(["sandbox", "start", "--state-dir", state, "--site", site], timeout=600)
    if started.returncode != 0:
        raise SystemExit(f"sandbox start failed:\n{started.stderr[-2000:]}")
    try:
        csv = _events_csv(work, args.exposures, args.per_exposure)
        reh = _run(
            [
                "--config", str(config), "rehearse", str(csv), "--state-dir", state,
                "--site", site, "--out", str(work / "night"), "--lead", "30",
                "--min-altitude", "20", "--max-sun-altitude", "90", "--roi", ROI,
                "--start-in", "15", "--json",
            ],
            timeout=3600,
        )  # fmt: skip
        if not reh.stdout.strip():
            raise SystemExit(f"rehearse failed:\n{reh.stderr[-3000:]}")
        doc = json.loads(reh.stdout)
    finally:
        load_after = _load()
        _run(["sandbox", "stop", "--state-dir", state], timeout=120)
    result = analyse(work / "night", Path(state), args.exposures, rehearsed=doc)
    result.update(load_before=load_before, load_after=load_after, night=str(work / "night"))
    return result


def analyse(
    night: Path, state: Path, exposures: list[float], rehearsed: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Reduce each recording of a rehearsed night before/after; its timeline from gsc's log.

    The truth is the sandbox's (``<state>/sky/occultations.json``); the recordings and their
    exposures come from the night journal. ``after`` is ``reduce`` with no ``--latency`` (what
    ``rehearse`` reports; its own figure is kept as ``rehearse_after_*`` when given).
    """
    truth = {
        o["name"]: o
        for o in json.loads((state / "sky" / "occultations.json").read_text())["occultations"]
    }
    reported = {e["name"]: e for e in (rehearsed or {}).get("events", [])}
    samples = _samples(state / "sky" / "samples.log")
    rows = []
    for line in (night / "journal.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        name = entry.get("name")
        if entry.get("type") != "event" or name not in truth:
            continue
        row: dict[str, Any] = {"name": name, "exposure_s": entry.get("exposure_s")}
        file = entry.get("file")
        after = _reduced(file, []) if file else None
        if after is None or not after.get("D"):
            rows.append({**row, "error": entry.get("outcome"), "file": file})
            continue
        before = _reduced(file, ["--latency", "0"])
        ts = after.get("timestamps") or {}
        row.update(
            correction_s=after["latency_s"],
            sampling=(ts.get("budget") or {}).get("sampling"),
            cadence_s=after.get("cadence_s"),
            timeline=timeline(file, samples),
        )
        for edge in ("D", "R"):
            t = _utc(truth[name][edge])
            row[f"after_{edge}_s"] = round((_utc(after[edge]) - t).total_seconds(), 4)
            around = _bracket(samples, t.timestamp())
            if around is not None:  # the two samples around the truth: where it could be seen
                lo, hi = around
                row[f"{edge}_sample_gap_s"] = round(hi - lo, 4)
                # measured - the middle of those samples: the model's own error, without the
                # truth's unknowable place between two samples
                mid = 0.5 * (lo + hi)
                row[f"after_{edge}_vs_mid_s"] = round(_utc(after[edge]).timestamp() - mid, 4)
            if before is not None and before.get(edge):
                row[f"before_{edge}_s"] = round((_utc(before[edge]) - t).total_seconds(), 4)
            rep = reported.get(name, {}).get("measured", {}).get(edge)
            if rep:
                row[f"rehearse_after_{edge}_s"] = round((_utc(rep) - t).total_seconds(), 4)
        rows.append(row)
    return {"rows": rows, "summary": _summary(rows, exposures)}


def _summary(rows: list[dict[str, Any]], exposures: list[float]) -> list[dict[str, Any]]:
    """Per exposure: mean, median and worst bias before/after (seconds and frames of the
    exposure), the worst after in frame intervals (the recording's median stamp interval,
    longer than the exposure when the simulator draws slower), and the half-frame verdicts."""
    out = []
    for exp in exposures:
        mine = [r for r in rows if r["exposure_s"] == exp and "after_D_s" in r]
        entry: dict[str, Any] = {"exposure_s": exp, "events": len(mine)}
        for when in ("before", "after"):
            vals = [r[f"{when}_{e}_s"] for r in mine for e in "DR" if f"{when}_{e}_s" in r]
            if vals:
                worst = max(vals, key=abs)
                entry[f"{when}_mean_s"] = round(statistics.fmean(vals), 4)
                entry[f"{when}_median_s"] = round(statistics.median(vals), 4)
                entry[f"{when}_worst_s"] = round(worst, 4)
                entry[f"{when}_median_frames"] = round(statistics.median(vals) / exp, 3)
                entry[f"{when}_worst_frames"] = round(worst / exp, 3)
        cad = [r["cadence_s"] for r in mine if r.get("cadence_s")]
        if cad:
            entry["median_interval_s"] = round(statistics.median(cad), 4)
            entry["after_worst_intervals"] = round(
                max(abs(r[f"after_{e}_s"]) / r["cadence_s"] for r in mine for e in "DR"), 3
            )
        entry["within_half_frame"] = bool(mine) and all(
            abs(r[f"after_{e}_s"]) <= 0.5 * exp for r in mine for e in "DR"
        )
        entry["within_half_interval"] = bool(cad) and all(
            abs(r[f"after_{e}_s"]) <= 0.5 * r["cadence_s"] for r in mine for e in "DR"
        )
        gaps = [(r[f"after_{e}_s"], r[f"{e}_sample_gap_s"]) for r in mine for e in "DR"
                if f"{e}_sample_gap_s" in r]  # fmt: skip
        if gaps:
            # an instant-sampled edge can only be placed between the samples around it
            entry["after_worst_of_half_gap"] = round(max(abs(a) / (0.5 * g) for a, g in gaps), 3)
            entry["median_gap_at_edges_s"] = round(statistics.median(g for _, g in gaps), 4)
        mids = [r[f"after_{e}_vs_mid_s"] for r in mine for e in "DR" if f"after_{e}_vs_mid_s" in r]
        if mids:
            entry["after_vs_mid_median_s"] = round(statistics.median(mids), 4)
            entry["after_vs_mid_worst_s"] = round(max(mids, key=abs), 4)
        out.append(entry)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exposures", default="0.05,0.2", help="comma-separated seconds")
    p.add_argument("--per-exposure", type=int, default=2, help="events per exposure")
    p.add_argument("--state-dir", help="sandbox state dir (default: a temporary one)")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--reanalyse",
        metavar="NIGHT",
        help="reduce an earlier run's night folder again (with --state-dir: its sandbox)",
    )
    args = p.parse_args()
    args.exposures = [float(x) for x in args.exposures.split(",")]
    if args.reanalyse:
        if not args.state_dir:
            p.error("--reanalyse needs --state-dir (the sandbox that ran the night)")
        result = analyse(Path(args.reanalyse), Path(args.state_dir), args.exposures)
        result["load_now"] = _load()
    else:
        result = measure(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"load average before {result.get('load_before')}, after {result.get('load_after')}")
        for s in result["summary"]:
            print(
                f"exposure {s['exposure_s']:g} s, {s['events']} events, median interval "
                f"{s.get('median_interval_s')} s: bias before median {s.get('before_median_s')} "
                f"s ({s.get('before_median_frames')} frames, worst {s.get('before_worst_s')} s), "
                f"after median {s.get('after_median_s')} s ({s.get('after_median_frames')} "
                f"frames, worst {s.get('after_worst_s')} s = {s.get('after_worst_frames')} "
                f"frames = {s.get('after_worst_intervals')} intervals); within half a frame: "
                f"{s['within_half_frame']}, within half an interval: {s['within_half_interval']}"
                f"; worst / half the sample gap at the edge: {s.get('after_worst_of_half_gap')}"
            )
        for r in result["rows"]:
            print("  ", json.dumps(r))
    return 0 if all(s["within_half_frame"] for s in result["summary"]) else 1


if __name__ == "__main__":
    sys.exit(main())
