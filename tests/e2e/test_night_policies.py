"""End to end, the night's policies on the real sandbox.

- A failed plate solve still records: the sandbox's ``gsc`` is moved aside, so the CCD Simulator
  draws noise and Ekos' Align (default steps Track + Align) cannot solve: the event must still be
  recorded at the slewed position, flagged "pointing not plate-solved".
- Dropped frames keep the recording: the sandbox's ``gsc`` is made to answer 0.5 s late for
  two seconds inside the event's window (a stall, :func:`ekos_occult.kstars.sky.write_stalls`),
  so the CCD Simulator, which runs ``gsc`` for every frame of its video stream, misses frames
  there: the event must be ``recorded`` with the dropped-frame count and where the gaps are, and
  the SER kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from e2e_helpers import Sandbox
from night_helpers import TRACK_ONLY, event_lines, run_args, write_night_csv

from ekos_occult import cli
from ekos_occult.kstars import sky
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


STALL_AFTER_S = 3.0  # the stall starts this long after the recording window opens
STALL_FOR_S = 2.0
STALL_DELAY_S = 0.5  # gsc's delay per call meanwhile: about 5 exposures of 0.1 s per frame


@pytest.fixture
def stalled_gsc(sandbox: Sandbox) -> Iterator[list[sky.Stall]]:
    """The test fills in the stall; gsc answers at once again afterwards."""
    files = sandbox.state.sky_files
    stalls: list[sky.Stall] = []
    yield stalls
    sky.write_stalls(files, [])


@pytest.mark.timeout(300)
def test_dropped_frames_are_counted_and_located_and_the_recording_kept(
    sandbox: Sandbox, ekos_clean: None, stalled_gsc: list[sky.Stall], tmp_path: Path
) -> None:
    assert sandbox.state.sky, "the session sandbox must draw stars (its gsc) for this test"
    config = tmp_path / "config.toml"
    config.write_text(TRACK_ONLY, encoding="utf-8")
    csv, events = write_night_csv(
        tmp_path, sandbox.site, datetime.now(timezone.utc), (75,), 10.0, 0.1
    )
    (event,) = events
    stall = sky.Stall(
        event.start + timedelta(seconds=STALL_AFTER_S),
        event.start + timedelta(seconds=STALL_AFTER_S + STALL_FOR_S),
        STALL_DELAY_S,
    )
    sky.write_stalls(sandbox.state.sky_files, [stall])
    stalled_gsc.append(stall)
    out = tmp_path / "night"

    rc = cli.main(run_args(sandbox, csv, out, config))

    (line,) = event_lines(out)
    assert rc == 0 and (line["outcome"], line["reason"]) == ("recorded", None), line
    assert line["dropped_frames"] > 0 and line["gaps"] > 0, line
    flag = next(f for f in line["flags"] if "dropped frames in" in f)
    assert f"{line['dropped_frames']} dropped frames in {line['gaps']} gaps" in flag
    assert "after frame" in flag  # where: the frame before each gap
    ser = open_ser(line["file"])  # kept, and readable
    assert ser.n_frames > 0
    # The longest interval between stamps lies in the stall (stamps come after the draw).
    times = [ser.frame_time(i) for i in range(ser.n_frames)]
    assert all(t is not None for t in times)
    stamps = [t for t in times if t is not None]
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:], strict=False)]
    longest = max(range(len(gaps)), key=gaps.__getitem__)
    assert gaps[longest] >= STALL_DELAY_S * 0.8, gaps[longest]
    slack = timedelta(seconds=1.0)
    after = stamps[longest + 1]
    assert stall.t_from - slack <= after <= stall.t_to + slack, (after, stall)
