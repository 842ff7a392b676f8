"""End to end fault: KStars is killed during the night (real sandbox), the sandbox is started
again in the same state directory (same bus socket), and `ekos-occult run` re-attaches and
records the next event. The journal keeps every step: both events, KStars lost, KStars back.

The run is a separate process (as on a rig) so that this test can kill and restart KStars
while the night goes on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from e2e_helpers import START_TIMEOUT_S, Sandbox
from night_helpers import TRACK_ONLY, event_lines, run_args, write_night_csv

from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars import sandbox as sandbox_api
from ekos_occult.night.journal import read_journal
from ekos_occult.video.ser import open_ser

EXPOSURE_S = 0.1


def _wait(
    what: str, done: Callable[[], bool], timeout_s: float, proc: subprocess.Popen[str], log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert proc.poll() is None, f"run exited early ({proc.returncode}):\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.5)


def _kill_kstars(state_dir: Path) -> None:
    state = sandbox_api.read_state(state_dir)
    assert state is not None and state.kstars is not None
    os.kill(state.kstars.pid, signal.SIGKILL)  # a crash: no goodbye on the bus
    deadline = time.monotonic() + 10
    while _procs.is_alive(state.kstars):
        assert time.monotonic() < deadline, "KStars survived SIGKILL"
        time.sleep(0.1)


@pytest.mark.timeout(600)
def test_kstars_killed_mid_night_next_event_still_recorded(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(TRACK_ONLY, encoding="utf-8")
    csv, events = write_night_csv(
        tmp_path, sandbox.site, datetime.now(timezone.utc), (75, 200), 5.0, EXPOSURE_S
    )
    out, log = tmp_path / "night", tmp_path / "run.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ekos_occult",
                *run_args(sandbox, csv, out, config),
                "--json-log",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        _wait("the first event", lambda: len(event_lines(out)) >= 1, 150, proc, log)
        _kill_kstars(sandbox.state_dir)
        restart = sandbox_api.start(
            sandbox.state_dir, sandbox.site, dict(os.environ), timeout_s=START_TIMEOUT_S
        )
        _, already = asyncio.run(restart)
        assert not already
        rc = proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)

    assert rc == 0, log.read_text()
    lines = event_lines(out)
    assert [(e["name"], e["outcome"]) for e in lines] == [(e.name, "recorded") for e in events]
    said = [e.get("what") for e in read_journal(out / "journal.jsonl") if e["type"] == "night"]
    assert said.index("kstars lost") < said.index("kstars back") < said.index("end")
    second = open_ser(lines[1]["file"])
    first_frame = second.frame_time(0)
    assert first_frame is not None
    delay = (first_frame - events[1].start).total_seconds()
    assert -EXPOSURE_S <= delay <= EXPOSURE_S + 0.25, delay
