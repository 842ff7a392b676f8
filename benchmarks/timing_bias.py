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

    unshare --net --fork bash -c 'ip link set lo up; .venv/bin/python benchmarks/timing_bias.py'

Options: ``--exposures 0.05,0.2``, ``--per-exposure 2``, ``--state-dir DIR``, ``--json``.
"""

from __future__ import annotations

import argparse
import json
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
    for i, ((ra, dec, mag), exp) in enumerate(zip(stars, wanted, strict=True)):
        start = (now + timedelta(seconds=1800 + 600 * i)).replace(microsecond=0)
        lines.append(
            f"bias {exp:g}s {i + 1},{ra:.6f},{dec:.6f},{start:%Y-%m-%dT%H:%M:%S},"
            f"{DURATION_S:g},{mag:.2f},{exp:g}"
        )
    path = folder / "events.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _uncorrected(file: str) -> dict[str, Any] | None:
    out = _run(["reduce", file, "--latency", "0", "--json"], timeout=600)
    return json.loads(out.stdout) if out.returncode == 0 else None


def measure(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="timing-bias-"))
    state = args.state_dir or str(work / "sandbox")
    config = work / "config.toml"
    config.write_text('[ekos]\nsteps = ["Track"]\n', encoding="utf-8")
    site = ",".join(f"{v:g}" for v in SITE)
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
        _run(["sandbox", "stop", "--state-dir", state], timeout=120)
    rows = []
    for rep in doc["events"]:
        if not rep.get("file") or not rep["measured"]["D"]:
            rows.append({"name": rep["name"], "exposure_s": rep["exposure_s"], "error": rep})
            continue
        before = _uncorrected(rep["file"])
        row: dict[str, Any] = {
            "name": rep["name"],
            "exposure_s": rep["exposure_s"],
            "correction_s": rep["latency_s"],
        }
        for edge in ("D", "R"):
            truth = _utc(rep["truth"][edge])
            row[f"after_{edge}_s"] = (_utc(rep["measured"][edge]) - truth).total_seconds()
            if before is not None and before.get(edge):
                row[f"before_{edge}_s"] = (_utc(before[edge]) - truth).total_seconds()
        rows.append(row)
    return {"rows": rows, "summary": _summary(rows, args.exposures)}


def _summary(rows: list[dict[str, Any]], exposures: list[float]) -> list[dict[str, Any]]:
    out = []
    for exp in exposures:
        mine = [r for r in rows if r["exposure_s"] == exp and "after_D_s" in r]
        entry: dict[str, Any] = {"exposure_s": exp, "events": len(mine)}
        for when in ("before", "after"):
            vals = [r[f"{when}_{e}_s"] for r in mine for e in "DR" if f"{when}_{e}_s" in r]
            if vals:
                entry[f"{when}_bias_s"] = round(statistics.fmean(vals), 4)
                entry[f"{when}_bias_frames"] = round(statistics.fmean(vals) / exp, 3)
                entry[f"{when}_worst_frames"] = round(max(abs(v) for v in vals) / exp, 3)
        entry["within_half_frame"] = bool(mine) and all(
            abs(r[f"after_{e}_s"]) <= 0.5 * exp for r in mine for e in "DR"
        )
        out.append(entry)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exposures", default="0.05,0.2", help="comma-separated seconds")
    p.add_argument("--per-exposure", type=int, default=2, help="events per exposure")
    p.add_argument("--state-dir", help="sandbox state dir (default: a temporary one)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    args.exposures = [float(x) for x in args.exposures.split(",")]
    result = measure(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for s in result["summary"]:
            print(
                f"exposure {s['exposure_s']:g} s, {s['events']} events: bias before "
                f"{s.get('before_bias_s')} s ({s.get('before_bias_frames')} frames), after "
                f"{s.get('after_bias_s')} s ({s.get('after_bias_frames')} frames, worst "
                f"{s.get('after_worst_frames')}); within half a frame: {s['within_half_frame']}"
            )
        for r in result["rows"]:
            print("  ", json.dumps(r))
    return 0 if all(s["within_half_frame"] for s in result["summary"]) else 1


if __name__ == "__main__":
    sys.exit(main())
