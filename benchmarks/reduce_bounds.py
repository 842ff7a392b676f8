"""Memory and time of ``ekos-occult reduce`` on SER geometries that headers allow but a naive
reader would choke on: one huge frame size, and millions of tiny frames.

    .venv/bin/python benchmarks/reduce_bounds.py                 # both cases
    .venv/bin/python benchmarks/reduce_bounds.py --tiny 500000   # fewer tiny frames

``huge``: 10 000 x 10 000 px 16-bit mono (200 MB a frame), 10 frames, written as a sparse file
(only the star patches and the trailer hold data), two stars near the centre and an event.
``tiny``: N frames of 2 x 2 px 16-bit (default 2 000 000) with a trailer and an event, reduced
with ``--target 0.5,0.5 --aperture 1``. ``mc``: 3000 such frames with ``--trials`` and
``--false-trials`` at their limit (100 000): the Monte-Carlo runs in batches.

Each case runs ``cli.main(["reduce", ...])`` in a fresh Python process and reports its peak RSS
(VmHWM), the traced peak of Python and numpy allocations (tracemalloc, a second run), the wall
time, and bytes per frame above a one-frame baseline. Goals: huge < 400 MB peak RSS;
tiny < 40 traced bytes per frame (the light curve's own float64 arrays, no per-frame objects).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ekos_occult.video.ser import HEADER_SIZE, SerHeader, datetime_to_ticks  # noqa: E402

START = datetime(2024, 3, 14, 22, 15, 30, tzinfo=timezone.utc)
CHILD = r"""
import json, sys, time, tracemalloc
from ekos_occult.cli import main
args, traced = json.loads(sys.argv[1]), sys.argv[2] == "1"
if traced:
    tracemalloc.start()
t = time.perf_counter()
import contextlib, io
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()) as err:
    rc = main(args)
wall = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1] if traced else 0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
res = json.loads(out.getvalue()) if rc == 0 else {}
print(json.dumps({"rc": rc, "wall_s": wall, "hwm_kb": hwm, "traced_peak": peak,
                  "D": res.get("D"), "R": res.get("R"), "frames": res.get("frames"),
                  "err": err.getvalue()[-300:] if rc else ""}))
"""


def _stamps(n: int, cadence: float) -> np.ndarray:
    t0 = datetime_to_ticks(START)
    return (t0 + np.round(np.arange(n) * cadence * 1e7)).astype("<i8")


def huge(path: Path, n: int = 10, side: int = 10_000) -> None:
    """Sparse 16-bit mono SER of ``n`` frames of side x side with two stars and an event."""
    fb = side * side * 2
    yy, xx = np.mgrid[0:15, 0:15]
    psf = np.exp(-((xx - 7) ** 2 + (yy - 7) ** 2) / (2 * 1.3**2))
    with path.open("wb") as fh:
        fh.write(SerHeader("INDI-RECORDER", 0, 0, 0, side, side, 16, n).pack())
        for k in range(n):
            level = 0.1 if 4 <= k < 7 else 1.0
            for (x, y), flux in (
                ((side // 2, side // 2), 3000 * level),
                ((side // 2 - 40, side // 2 + 30), 5000),
            ):
                patch = (200 + flux * psf).astype("<u2")
                for r in range(15):
                    fh.seek(HEADER_SIZE + k * fb + ((y - 7 + r) * side + x - 7) * 2)
                    fh.write(patch[r].tobytes())
        fh.seek(HEADER_SIZE + n * fb)
        fh.write(_stamps(n, 0.04).tobytes())


def tiny(path: Path, n: int) -> None:
    """``n`` frames of 2x2 px with an event from n/3 to n/3 + 40 frames."""
    rng = np.random.default_rng(1)
    light = np.full(n, 3000.0)
    light[n // 3 : n // 3 + 40] = 300.0
    frames = (light[:, None, None] + rng.normal(0, 30, (n, 2, 2))).clip(0, 65535).astype("<u2")
    with path.open("wb") as fh:
        fh.write(SerHeader("INDI-RECORDER", 0, 0, 0, 2, 2, 16, n).pack())
        frames.tofile(fh)
        _stamps(n, 0.04).tofile(fh)


def run(args: list[str], traced: bool) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(args), "1" if traced else "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(name: str, args: list[str], frames: int) -> None:
    plain, traced = run(args, False), run(args, True)
    if plain["rc"] != 0:
        print(f"{name}: exit {plain['rc']}: {plain['err']}")
    hwm = int(plain["hwm_kb"]) / 1024  # type: ignore[call-overload]
    peak = int(traced["traced_peak"]) / 2**20  # type: ignore[call-overload]
    print(
        f"{name:>5}: {frames:>9} frames  exit {plain['rc']}  wall {plain['wall_s']:.2f} s  "
        f"peak RSS {hwm:.0f} MiB  traced peak {peak:.1f} MiB "
        f"({int(traced['traced_peak']) / frames:.1f} B/frame)  D {plain['D']}"  # type: ignore[call-overload]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", type=int, default=2_000_000, help="frames of the tiny case")
    ap.add_argument("--side", type=int, default=10_000, help="frame side of the huge case")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    a = ap.parse_args()
    fast = ["--json", "--trials", "500", "--false-trials", "2000"]
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        big = Path(tmp) / "huge.ser"
        huge(big, side=a.side)
        report("huge", ["reduce", str(big), *fast], 10)
        big.unlink()
        small = Path(tmp) / "tiny.ser"
        tiny(small, a.tiny)
        flags = ["--target", "0.5,0.5", "--aperture", "1"]
        report("tiny", ["reduce", str(small), *fast, *flags], a.tiny)
        small.unlink()
        tiny(small, 3000)  # the Monte-Carlo at the --trials/--false-trials limits
        most = ["--trials", "100000", "--false-trials", "100000"]
        report("mc", ["reduce", str(small), "--json", *most, *flags], 3000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
