"""How late is the first recorded frame? N timed recordings on the sandbox's CCD simulator.

Each recording is driven exactly as ``ekos-occult run`` drives one (the same
:class:`~ekos_occult.night.recorder.IndiStreamRecorder`, system clock, stream pre-roll, record
command
sent on waking at the planned start), then the SER is read back: the delay is the first frame's
timestamp minus the planned start. Goal: median <= one exposure + 50 ms.

Usage::

    python benchmarks/record_latency.py [-n 10] [--exposure 0.1] [--duration 3]
        [--roi 0,0,320,240] [--no-preroll] [--bus ADDRESS | --state-dir DIR]

Without --bus, the sandbox in --state-dir (default: a temporary one) is used, and started (and
stopped afterwards) when none runs there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from ekos_occult.cli.run import parse_roi
from ekos_occult.clock import SystemClock
from ekos_occult.kstars import sandbox
from ekos_occult.kstars.client import EkosClient
from ekos_occult.night.ports import RecordingRequest, RecordingState
from ekos_occult.night.recorder import IndiStreamRecorder
from ekos_occult.settings import configure_astropy_offline
from ekos_occult.video.ser import open_ser


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10, help="number of recordings (default 10)")
    p.add_argument("--exposure", type=float, default=0.1, help="stream exposure, s (0.1)")
    p.add_argument("--duration", type=float, default=3.0, help="recording length, s (3)")
    p.add_argument("--preroll", type=float, default=3.0, help="stream on this early, s (3)")
    p.add_argument("--no-preroll", action="store_true", help="record from a stopped stream")
    p.add_argument("--roi", default="0,0,320,240", help="X,Y,W,H or 'full' (0,0,320,240)")
    p.add_argument("--bus", help="KStars' bus address (default: the sandbox's)")
    p.add_argument("--state-dir", type=Path, help="sandbox state directory (default: temporary)")
    return p.parse_args()


async def _one(
    rec: IndiStreamRecorder, clock: SystemClock, folder: Path, i: int, a: argparse.Namespace
) -> float:
    roi = None if a.roi == "full" else parse_roi(a.roi)
    start = (clock.now() + timedelta(seconds=a.preroll + 2)).replace(microsecond=0)
    req = RecordingRequest(
        folder, f"bench_{i:03d}_{start:%Y%m%dT%H%M%SZ}", a.exposure, a.duration, roi
    )
    await rec.configure(req)
    if not a.no_preroll:
        await clock.sleep_until(start - timedelta(seconds=a.preroll))
        await rec.start_stream()
    await clock.sleep_until(start)
    await rec.start_recording()
    sent = clock.now()
    while await rec.recording_state() in (RecordingState.BUSY, RecordingState.IDLE):
        if clock.now() > start + timedelta(seconds=a.duration + 15):
            raise RuntimeError(f"recording {i} did not finish")
        await asyncio.sleep(0.2)
    await rec.stop_stream()
    path = await rec.find_recording(req, sent)
    if path is None:
        raise RuntimeError(f"recording {i}: no SER file in {folder}")
    ser = open_ser(path)
    first = ser.frame_time(0)
    assert first is not None
    delay = (first - start).total_seconds()
    print(
        f"  {i + 1:3d}: command +{(sent - start).total_seconds() * 1000:5.1f} ms, first frame "
        f"+{delay * 1000:6.1f} ms, {ser.n_frames} frames",
        flush=True,
    )
    path.unlink()
    return delay


async def _bench(bus: str, a: argparse.Namespace, folder: Path) -> list[float]:
    async with EkosClient(bus) as client:
        camera = await client.camera_name()
        rec = IndiStreamRecorder(lambda: client, camera)
        clock = SystemClock()
        return [await _one(rec, clock, folder, i, a) for i in range(a.n)]


def main() -> int:
    configure_astropy_offline()
    a = _args()
    state_dir = a.state_dir or Path(tempfile.mkdtemp(prefix="ekos-occult-bench-"))
    started = False
    bus = a.bus
    if bus is None:
        state, already = asyncio.run(
            sandbox.start(state_dir, sandbox.DEFAULT_SITE, dict(os.environ))
        )
        bus, started = state.bus_address, not already
    try:
        with tempfile.TemporaryDirectory(prefix="ekos-occult-rec-") as tmp:
            mode = "no pre-roll" if a.no_preroll else f"pre-roll {a.preroll:g} s"
            print(
                f"{a.n} recordings of {a.duration:g} s at {a.exposure:g} s/frame, ROI {a.roi}, "
                f"{mode}:"
            )
            delays = asyncio.run(_bench(bus, a, Path(tmp)))
    finally:
        if started:
            sandbox.stop(state_dir)
    goal = a.exposure + 0.050
    median, worst = statistics.median(delays), max(delays)
    print(
        f"first-frame delay after the planned start: median {median * 1000:.1f} ms, worst "
        f"{worst * 1000:.1f} ms, best {min(delays) * 1000:.1f} ms (goal: median <= "
        f"{goal * 1000:.0f} ms = one exposure + 50 ms) -> "
        f"{'met' if median <= goal else 'NOT met'}"
    )
    return 0 if median <= goal else 1


if __name__ == "__main__":
    sys.exit(main())
