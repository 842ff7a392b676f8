"""A sandbox a person can look at, on the real sandbox: the quick start's picture (the sample
night loaded, then ``ekos-occult sandbox screenshot --tab scheduler`` shows Ekos' Scheduler with
its jobs), and ``sandbox start --vnc`` (a VNC server on 127.0.0.1 that speaks RFB).

The same steps as ``scripts/quickstart.sh`` after its setup (the sample night moved to the next
dark hours, ``load``, ``sandbox screenshot``), against the session's sandbox.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from e2e_helpers import Sandbox, restart_sandbox

from ekos_occult import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_sequences"
# The Ekos window's size (kstarsrc [Ekos] EkosWindowWidth/Height in the sandbox).
SIZE = (1500, 950)
# The Scheduler's job table in that window (pixels: left, top, right, bottom), below its header.
TABLE = (390, 150, 1480, 520)


def _colours(pixels: np.ndarray) -> int:
    """Distinct RGB colours in an (h, w, 3) array."""
    return len(np.unique(pixels.reshape(-1, 3), axis=0))


@pytest.mark.timeout(240)
def test_quickstart_screenshot_shows_the_scheduler_with_its_jobs(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path
) -> None:
    from PIL import Image

    # The quick start loads into a fresh KStars. After a night has run, KStars 3.6.2 shows the
    # rows of a newly loaded night with empty cells until its scheduler runs (OBSERVED), so the
    # session's KStars is restarted first (same state dir, bus and site).
    restart_sandbox(sandbox.state_dir, sandbox.site)
    config = SAMPLE / "config.toml"
    tonight = tmp_path / "sample-tonight.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sample_night.py"), str(SAMPLE / "tonight.csv")]
        + [str(config), str(tonight)],
        check=True,
        timeout=120,
    )
    state = ["--state-dir", str(sandbox.state_dir)]
    out = ["--out", str(tmp_path / "night")]
    assert cli.main(["--config", str(config), "load", str(tonight), *state, *out]) == 0
    png = tmp_path / "scheduler.png"

    assert cli.main(["sandbox", "screenshot", "--tab", "scheduler", str(png), *state]) == 0

    img = Image.open(png)
    img.verify()  # a valid PNG
    img = Image.open(png)
    assert (img.format, img.size) == ("PNG", SIZE)
    pixels = np.asarray(img.convert("RGB"))
    assert _colours(pixels) > 500, "the window is (nearly) blank"
    left, top, right, bottom = TABLE
    table = pixels[top:bottom, left:right]
    assert table.mean() > 100 and table.std() > 5, "the scheduler's table is black or blank"
    # The loaded jobs are rows of text in the table: many more shades than an empty table's
    # white (an empty table: fewer than 10 colours, OBSERVED; with the 7 jobs: about 300).
    with_jobs = _colours(table)
    assert with_jobs > 40, f"no jobs drawn in the scheduler's table ({with_jobs} colours)"


def test_screenshot_into_a_missing_folder_exits_2(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no such folder" / "x.png"
    rc = cli.main(["sandbox", "screenshot", str(out), "--state-dir", str(sandbox.state_dir)])
    assert rc == 2 and not out.exists()
    assert str(out.parent) in capsys.readouterr().err


@pytest.mark.timeout(60)
def test_start_vnc_serves_the_display_on_localhost(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import socket

    from ekos_occult.kstars import procs
    from ekos_occult.kstars import sandbox as sb

    state = ["--state-dir", str(sandbox.state_dir)]
    try:
        assert cli.main(["sandbox", "start", "--vnc", *state]) == 0  # adds VNC to the running one
        said = capsys.readouterr().out
        assert cli.main(["sandbox", "status", "--json", *state]) == 0
        status = json.loads(capsys.readouterr().out)
        port = status["vnc_port"]
        assert isinstance(port, int) and f"VNC: 127.0.0.1:{port}" in said
        with socket.create_connection(("127.0.0.1", port), timeout=5.0) as conn:
            assert conn.recv(12).startswith(b"RFB 003.")  # the VNC protocol's greeting
        vnc = sb.read_state(sandbox.state_dir)
        assert vnc is not None and vnc.vnc is not None
        assert any(p["name"] == "x11vnc" and p["alive"] for p in status["processes"])
    finally:
        ended = sb.stop_vnc(sandbox.state_dir)
    assert ended is not None and not procs.is_alive(ended)
    after = sb.read_state(sandbox.state_dir)
    assert after is not None and after.vnc_port is None and after.is_running()
