"""Benchmark ``ekos-occult reduce`` on a big generated SER: frames per second and peak memory,
side by side with the time it takes just to read the file.

    .venv/bin/python benchmarks/reduce_bench.py              # 4 GB file under /tmp (deleted after)
    .venv/bin/python benchmarks/reduce_bench.py --size 500M  # quicker

The recording is 16-bit, 200x200 px by default (a typical occultation ROI), at 25 frames/s with
a per-frame timestamp trailer, a target star near the centre, one neighbour, and an event of known
D and R. Each measurement runs in a fresh Python process, so its peak RSS (``ru_maxrss``) is its
own (VmHWM); "cold" runs first drop the file from the page cache (posix_fadvise DONTNEED).
Goals: reduce at >= half the read speed, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ekos_occult.video.ser import SerWriter, datetime_to_ticks  # noqa: E402

START = datetime(2025, 2, 9, 21, 30, 0, tzinfo=timezone.utc)
CADENCE = 0.04
POOL = 64  # distinct noise frames, cycled

HWM = """
def hwm_kb():  # peak RSS of this process image (VmHWM resets on exec; ru_maxrss does not)
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
"""

READ = (
    HWM
    + """
import sys, time
buf = bytearray(32 << 20)
t0 = time.perf_counter(); total = 0
with open(sys.argv[1], 'rb', buffering=0) as f:
    while (n := f.readinto(buf)):
        total += n
print(time.perf_counter() - t0, total, hwm_kb())
"""
)

REDUCE = (
    HWM
    + """
import sys, time, json, io, contextlib
t0 = time.perf_counter()
from ekos_occult.cli import main, configure_astropy_offline
configure_astropy_offline()  # what every ekos-occult command pays at start (astropy import)
t1 = time.perf_counter()
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main(['reduce', sys.argv[1], '--json'])
info = json.loads(out.getvalue())
t2 = time.perf_counter()
print(json.dumps({'seconds': t2 - t1, 'startup': t1 - t0, 'rc': rc, 'D': info['D'], 'R': info['R'],
                  'D_err_s': info['D_err_s'], 'R_err_s': info['R_err_s'], 'frames': info['frames'],
                  'maxrss_kb': hwm_kb()}))
"""
)


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().rstrip("B")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)


def _star(h: int, w: int, x: float, y: float, flux: float, fwhm: float = 3.0) -> np.ndarray:
    s = fwhm / 2.3548
    yy, xx = np.mgrid[0:h, 0:w]
    return flux * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s)) / (2 * np.pi * s * s)


def pools(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noise frames with the target (baseline) and without it (event)."""
    sky = np.full((h, w), 300.0) + _star(h, w, w * 0.3, h * 0.25, 20000.0)
    target = _star(h, w, w / 2 + 0.3, h / 2 - 0.4, 8000.0)
    base = rng.poisson(np.broadcast_to(sky + target, (POOL, h, w))) + rng.normal(0, 5, (POOL, h, w))
    event = rng.poisson(np.broadcast_to(sky, (POOL, h, w))) + rng.normal(0, 5, (POOL, h, w))
    return (np.clip(base, 0, 65535).astype(np.uint16), np.clip(event, 0, 65535).astype(np.uint16))


def generate(path: Path, size: int, h: int, w: int) -> tuple[int, float, float]:
    """Write the SER; returns (frames, D, R) with D and R as frame positions."""
    n = max(1000, (size - 178) // (h * w * 2 + 8))
    d, r = n * 0.5 + 0.25, n * 0.5 + 75.75  # a 3-second event mid-file, sub-frame edges
    base, event = pools(h, w, np.random.default_rng(1))
    ticks0 = datetime_to_ticks(START)
    with SerWriter(path, w, h, pixel_depth=16, start_utc=START) as wr:
        for first in range(0, n, 256):
            k = np.arange(first, min(first + 256, n))
            inside = (k >= int(d)) & (k < int(np.ceil(r)))
            frames = np.where(inside[:, None, None], event[k % POOL], base[k % POOL])
            for j in np.flatnonzero((k == int(d)) | (k == int(r))):  # transition frames
                frac = (k[j] + 1 - d) if k[j] == int(d) else (r - k[j])
                mix = frac * event[k[j] % POOL] + (1 - frac) * base[k[j] % POOL]
                frames[j] = mix.astype(np.uint16)
            stamps = ticks0 + np.rint(k * CADENCE * 1e7).astype(np.int64)
            wr.write(frames, stamps)
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())
    return n, d, r


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def child(code: str, path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    res = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if res.returncode:
        raise SystemExit(f"child failed:\n{res.stderr}")
    return res.stdout.strip().splitlines()[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4G", help="file size, e.g. 4G (default), 500M")
    ap.add_argument("--width", type=int, default=200)
    ap.add_argument("--height", type=int, default=200)
    ap.add_argument("--dir", type=Path, default=Path("/tmp"), help="where to write the file")
    args = ap.parse_args()
    size = parse_size(args.size)
    fd, name = tempfile.mkstemp(suffix=".ser", prefix="reduce_bench_", dir=args.dir)
    os.close(fd)
    path = Path(name)
    try:
        t0 = time.perf_counter()
        n, d, r = generate(path, size, args.height, args.width)
        gb = path.stat().st_size / 1e9
        print(
            f"generated {path} ({gb:.2f} GB, {n} frames of {args.width}x{args.height} 16-bit)"
            f" in {time.perf_counter() - t0:.1f} s"
        )
        rows = []
        for cache in ("cold", "warm"):
            if cache == "cold":
                drop_cache(path)
            secs, _, rss = child(READ, path).split()
            rows.append((f"read only ({cache})", float(secs), int(rss) / 1024, None))
            if cache == "cold":
                drop_cache(path)
            info = json.loads(child(REDUCE, path))
            rows.append((f"reduce ({cache})", info["seconds"], info["maxrss_kb"] / 1024, info))
        print(f"\n{'step':<20} {'seconds':>8} {'frames/s':>10} {'GB/s':>6} {'peak RSS MB':>12}")
        for label, secs, rss, _ in rows:
            print(f"{label:<20} {secs:8.2f} {n / secs:10.0f} {gb / secs:6.2f} {rss:12.0f}")
        starts = [f"{i['startup']:.2f}" for lb, _, _, i in rows if i is not None]
        print(
            f"(reduce rows exclude the process start-up: Python + astropy import, "
            f"{' / '.join(starts)} s)"
        )
        for cache in ("cold", "warm"):
            rd = next(s for lb, s, _, _ in rows if lb == f"read only ({cache})")
            rt = next(s for lb, s, _, _ in rows if lb == f"reduce ({cache})")
            print(f"{cache}: reduce runs at {rd / rt:.2f} x the read speed (goal >= 0.5)")
        info = rows[-1][3]
        assert info is not None
        true_d = START + timedelta(seconds=d * CADENCE)
        true_r = START + timedelta(seconds=r * CADENCE)
        for edge, truth in (("D", true_d), ("R", true_r)):
            got = datetime.fromisoformat(info[edge]) if info[edge] else None
            err = (got - truth).total_seconds() if got else float("nan")
            print(
                f"{edge}: {info[edge]}  truth {truth.isoformat()}  error {err * 1e3:+.2f} ms  "
                f"(68% bar {info[f'{edge}_err_s'] * 1e3:.2f} ms)"
            )
        peak = max(rss for lb, _, rss, _ in rows if lb.startswith("reduce"))
        print(f"peak RSS of reduce: {peak:.0f} MB (goal < 300 MB)")
        print(
            f"this process (generator) peak RSS: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
        )
    finally:
        path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
