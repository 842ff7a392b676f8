"""End to end on the real sandboxed KStars/Ekos: `ekos-occult run` records a two-event night.

Two events on bright stars up at the sandbox site now, 2 and 5 minutes ahead. Ekos runs each
event's one-job schedule (slew, track, control frame), the supervisor records the camera's video
stream over each window, and the SER files, the journal and the control frames are checked.
Also `ekos-occult check` on the sandbox.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from e2e_helpers import Sandbox
from night_helpers import TRACK_ONLY, event_lines, run_args, utc, write_night_csv

from ekos_occult import cli
from ekos_occult.kstars.scheduleroptions import keys_changed_by_loading, read_group
from ekos_occult.night.journal import read_journal
from ekos_occult.video.ser import open_ser

DURATION_S = 10.0
EXPOSURE_S = 0.1
TOLERANCE_S = 0.25  # the allowance beyond one exposure


@pytest.mark.timeout(600)
def test_two_events_recorded_on_time(
    sandbox: Sandbox, ekos_clean: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(TRACK_ONLY, encoding="utf-8")
    csv, events = write_night_csv(
        tmp_path, sandbox.site, datetime.now(timezone.utc), (120, 300), DURATION_S, EXPOSURE_S
    )
    out = tmp_path / "night"
    kstarsrc = sandbox.state_dir / "home" / ".config" / "kstarsrc"
    keys = keys_changed_by_loading("3.6", "3.6.2")
    before = read_group(kstarsrc.read_text(encoding="utf-8"), keys)

    rc = cli.main(run_args(sandbox, csv, out, config))

    captured = capsys.readouterr()
    assert rc == 0, captured.err
    # The scheduler options our schedules rewrite were put back: KStars 3.6.2 loaded the
    # restoring schedule (no job, the user's options), and its kstarsrc holds them as before.
    assert "scheduler options put back as they were before the night" in captured.err
    assert read_group(kstarsrc.read_text(encoding="utf-8"), keys) == before
    lines = event_lines(out)
    assert [(e["name"], e["outcome"]) for e in lines] == [(e.name, "recorded") for e in events]
    for ev, line in zip(events, lines, strict=True):
        ser = open_ser(line["file"])
        assert Path(line["file"]).parent == out / "recordings"
        first, last = ser.frame_time(0), ser.frame_time(ser.n_frames - 1)
        assert first is not None and last is not None
        delay = (first - ev.start).total_seconds()
        assert -EXPOSURE_S <= delay <= EXPOSURE_S + TOLERANCE_S, (ev.name, delay)
        assert last >= ev.end - timedelta(seconds=EXPOSURE_S), (ev.name, last, ev.end)
        assert (last - first).total_seconds() >= DURATION_S - EXPOSURE_S - TOLERANCE_S
        assert ser.n_frames >= 0.9 * DURATION_S / EXPOSURE_S
        assert utc(line["first_frame_utc"]) == first and line["frames"] == ser.n_frames
        assert utc(line["record_start"]) == ev.start and line["reason"] is None
        assert line["timestamp_source"] == "host clock"
        # Verified on disk; INDI 1.9.9's own messages, heard on its server, name the file and
        # count the frames it recorded (the watch that judges a file on another host).
        assert line["verified"]["how"] == "on disk", line["verified"]
        indi = line["verified"]["indi"]
        assert indi is not None and indi["finished"] and not indi["errors"], line["verified"]
        assert Path(indi["file"]) == Path(line["file"])
        assert abs(indi["frames"] - ser.n_frames) <= 1, (indi, ser.n_frames)
    _assert_ekos_ran_both_jobs(out, [e.name for e in events])
    assert "recorded" in captured.out  # the plain journal lines (stdout is not a terminal)


def _assert_ekos_ran_both_jobs(out: Path, names: list[str]) -> None:
    """Each job's progress reached "complete" and its control frame is on disk."""
    done = {
        e["name"]
        for e in read_journal(out / "journal.jsonl")
        if e["type"] == "progress" and e["phase"] == "complete"
    }
    assert done == set(names)
    for name in names:
        stem = name.replace(" ", "_")
        frames = list((out / "captures").glob(f"{stem}_*/**/*.fits"))
        assert len(frames) == 1, (name, sorted((out / "captures").rglob("*")))


def _kernel_clock_synchronised() -> bool:
    """The kernel's own word (adjtimex(2) with modes 0): not TIME_ERROR and STA_UNSYNC clear."""
    import ctypes
    import ctypes.util

    class Timex(ctypes.Structure):
        _fields_ = [("modes", ctypes.c_uint), ("pad", ctypes.c_long * 4), ("status", ctypes.c_int)]
        _fields_ += [("rest", ctypes.c_byte * 256)]

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    tx = Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    assert state >= 0, ctypes.get_errno()
    sta_unsync, time_error = 0x0040, 5
    return state != time_error and not (tx.status & sta_unsync)


@pytest.mark.timeout(120)
def test_check_reports_the_sandbox_ready(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    site = sandbox.site
    rc = cli.main(
        [
            "check",
            "--bus",
            sandbox.bus_address,
            "--state-dir",
            str(sandbox.state_dir),
            "--site",
            f"{site.lat_deg},{site.lon_deg},{site.elevation_m}",
            "--json",
        ]
    )

    report = json.loads(capsys.readouterr().out)
    verdicts = {c["name"]: c["verdict"] for c in report["checks"]}
    # The clock check reports this machine's kernel clock (adjtimex), which a CI machine or a
    # container may not keep synchronised: read the kernel here, independently, and expect the
    # verdict it calls for; every other check must pass.
    synchronised = _kernel_clock_synchronised()
    assert report["clock"]["synchronised"] is synchronised, report["clock"]
    assert verdicts["clock"] in (("ok", "warning") if synchronised else ("problem",)), report
    others = {n: v for n, v in verdicts.items() if n != "clock" and v == "problem"}
    assert others == {}, report
    assert report["ok"] is synchronised and rc == (0 if synchronised else 1), report
    for name in (
        "kstars",
        "ekos",
        "devices",
        "camera: stream recording",
        "camera: SER recorder",
        "site",
        "kstars: Ekos stays up after a job",
    ):
        assert verdicts[name] == "ok", (name, report)
