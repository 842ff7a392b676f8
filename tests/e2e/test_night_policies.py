"""End to end, the night's policies on the real sandbox: a failed plate solve still records.

The sandbox's ``gsc`` is moved aside for this test, so the CCD Simulator draws noise and Ekos'
Align (default steps Track + Align) cannot solve: the event must still be recorded at the
slewed position, flagged "pointing not plate-solved".
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from e2e_helpers import Sandbox
from night_helpers import event_lines, run_args, write_night_csv

from ekos_occult import cli
from ekos_occult.video.ser import open_ser


@pytest.fixture
def noise(sandbox: Sandbox) -> Iterator[None]:
    """No stars in the simulator's frames while the test runs."""
    gsc = sandbox.state_dir / "home" / "bin" / "gsc"
    aside = gsc.with_name("gsc.aside")
    gsc.rename(aside)
    try:
        yield
    finally:
        aside.rename(gsc)


@pytest.mark.timeout(420)
def test_a_failed_plate_solve_still_records_flagged(
    sandbox: Sandbox, ekos_clean: None, noise: None, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# default steps: Track + Align\n", encoding="utf-8")
    csv, events = write_night_csv(
        tmp_path, sandbox.site, datetime.now(timezone.utc), (130,), 6.0, 0.1
    )
    out = tmp_path / "night"
    args = run_args(sandbox, csv, out, config)
    args[args.index("--lead") + 1] = "110"  # time for Align to give up before the window

    rc = cli.main(args)

    (line,) = event_lines(out)
    assert rc == 0 and (line["outcome"], line["reason"]) == ("recorded", None), line
    assert any(f.startswith("pointing not plate-solved") for f in line["flags"]), line["flags"]
    assert open_ser(line["file"]).n_frames > 0
