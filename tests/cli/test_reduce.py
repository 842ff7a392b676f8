"""``ekos-occult reduce`` through cli.main on synthetic recordings with a known answer, and on the
real ASTRID light curve (compared with PyOTE's answer, made by benchmarks/pyote_compare.py)."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from synthetic import START, Recording, Scene, instant_timeline, make_recording

from ekos_occult.cli import main
from ekos_occult.reduce.lightcurve_read import read_lightcurve
from ekos_occult.settings import (
    DEFAULT_ACQUISITION_DELAY_S,
    DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S,
    MEASURED_DELAYS,
)

FAST = ["--trials", "500", "--false-trials", "2000"]
REAL = Path("/work/shared/data/lightcurves/real_astrid_monachia_20240102.csv")
PYOTE = Path(__file__).parent.parent / "data" / "reduce" / "pyote_astrid.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def reduce_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], str]:
    assert main(["reduce", *args, *FAST, "--json"]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_edges(info: dict[str, Any], rec: Recording, shift_s: float = 0.0) -> None:
    """D and R agree with the truth within three 68% error bars (and the bars are small)."""
    assert info["event"] is True
    for edge, truth in (("D", rec.d_utc), ("R", rec.r_utc)):
        err = abs((utc(info[edge]) - truth).total_seconds() - shift_s)
        bar = info[f"{edge}_err_s"]
        assert 0 < bar < 0.5 * rec.cadence_s
        assert err <= 3 * bar + 1e-5, (edge, err, bar)
        assert info[f"{edge}_err95_s"] > bar


def test_sub_frame_event_with_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "a.ser", Scene(d=100.35, r=140.8, drift=(0.02, -0.015)))
    info, err = reduce_json(capsys, str(rec.path))
    assert_edges(info, rec)
    assert info["timestamp_source"] == "trailer"
    assert info["timestamp_convention"] == "start of exposure"
    assert info["frames"] == 240 and info["dropped_frames"] == 0
    assert info["false_event_probability"] < 1e-6
    assert info["duration_s"] == pytest.approx((rec.r - rec.d) * rec.cadence_s, abs=0.01)
    assert info["drop_fraction"] == pytest.approx(1.0, abs=0.05) and info["snr"] > 20
    assert info["D_frame"] == pytest.approx(100.35, abs=0.1)
    assert "host write times are late by one exposure" in err
    m = re.search(
        r"target: the star at \(([\d.]+), ([\d.]+)\), nearest the frame centre "
        r"\(31.5, 23.5\) of 2 stars",
        err,
    )
    assert m is not None  # where it was in the first 16 frames (mean image)
    assert float(m[1]) == pytest.approx(33.3 + 0.02 * 7.5, abs=0.15)
    assert float(m[2]) == pytest.approx(24.6 - 0.015 * 7.5, abs=0.15)


def test_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "a.ser", Scene())
    assert main(["reduce", str(rec.path), *FAST]) == 0
    out = capsys.readouterr().out
    assert "event:    yes" in out and "timestamps: trailer, start of exposure" in out
    d_line = next(line for line in out.splitlines() if line.startswith("D:"))
    assert rec.d_utc.isoformat()[:21] in d_line and "(68%)" in d_line and "(95%)" in d_line


def test_short_event_of_a_few_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "s.ser", Scene(d=120.6, r=123.3, target_flux=9000.0))
    info, _ = reduce_json(capsys, str(rec.path))
    assert_edges(info, rec)
    assert info["duration_s"] == pytest.approx(2.7 * rec.cadence_s, abs=0.2 * rec.cadence_s)


def test_a_miss_is_no_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "m.ser", Scene(d=None, r=None, target_flux=3000.0))
    info, err = reduce_json(capsys, str(rec.path))
    assert info["event"] is False
    assert info["D"] is None and info["R"] is None and info["D_err_s"] is None
    assert info["false_event_probability"] > 1e-3
    assert "no event: noise alone makes a dip this deep" in err


def test_faint_target_with_a_reference_through_clouds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = Scene(target_flux=2500.0, refs=((12.4, 10.7, 20000.0),), transparency=(0.5, 90.0))
    rec = make_recording(tmp_path / "c.ser", scene)
    ref = f"{rec.refs_xy[0][0]},{rec.refs_xy[0][1]}"
    plain, _ = reduce_json(capsys, str(rec.path))
    info, _ = reduce_json(capsys, str(rec.path), "--ref", ref)
    assert info["references"] == ["ref1"]
    assert_edges(info, rec)
    # dividing out the clouds leaves much less baseline scatter than without the reference
    assert (
        info["sigma_baseline"] / info["baseline"]
        < 0.5 * plain["sigma_baseline"] / plain["baseline"]
    )


def test_target_flag_picks_another_star(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "t.ser", Scene())
    x, y = rec.refs_xy[0]
    info, err = reduce_json(capsys, str(rec.path), "--target", f"{x + 1},{y - 1}")
    assert info["event"] is False  # the reference star is not occulted
    assert "target: the star" not in err


def test_crash_truncated_file_has_no_timestamps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = make_recording(tmp_path / "x.ser", Scene(crash=True))
    info, err = reduce_json(capsys, str(rec.path))
    assert info["timestamp_source"] == "frame index"
    assert info["event"] is True and info["D"] is None and info["R"] is None
    assert info["D_frame"] == pytest.approx(rec.d, abs=3 * info["D_frame_err"] + 1e-4)
    assert info["R_frame"] == pytest.approx(rec.r, abs=3 * info["R_frame_err"] + 1e-4)
    assert "FrameCount is 0" in err and "timestamps are missing" in err


def test_no_trailer_with_cadence_uses_the_header_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = make_recording(tmp_path / "n.ser", Scene(trailer=False))
    info, err = reduce_json(capsys, str(rec.path), "--cadence", "0.04")
    assert info["timestamp_source"] == "header+cadence"
    assert_edges(info, rec)
    assert "--cadence" in err


def test_latency_is_subtracted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "l.ser", Scene(latency_s=0.0173))
    late, _ = reduce_json(capsys, str(rec.path), "--latency", "0")
    fixed, _ = reduce_json(capsys, str(rec.path), "--latency", "0.0173")
    assert_edges(late, rec, shift_s=0.0173)
    assert_edges(fixed, rec)
    step = utc(late["D"]) - utc(fixed["D"])
    assert step == timedelta(microseconds=17300)
    assert fixed["latency_s"] == 0.0173


def test_dropped_frames_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "d.ser", Scene(dropped=(30, 31, 200)))
    info, err = reduce_json(capsys, str(rec.path))
    assert info["dropped_frames"] == 3 and info["frames"] == 237
    assert "3 dropped frames (2 before frame 30, 1 before frame 198)" in err
    assert_edges(info, rec)


def test_eight_bit_colour_lucam_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = Scene(
        color=True,
        pixel_depth=8,
        file_id="LUCAM-RECORDER",
        target_flux=2500.0,
        refs=((12.4, 10.7, 3000.0),),
        background=20.0,
        read_noise=2.0,
    )
    rec = make_recording(tmp_path / "rgb.ser", scene)
    info, err = reduce_json(capsys, str(rec.path))
    assert_edges(info, rec)
    assert "INDI stamps" not in err


def test_csv_and_plot_outputs_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = make_recording(tmp_path / "o.ser", Scene(latency_s=0.01))
    csv, png = tmp_path / "out" / "lc.csv", tmp_path / "lc.png"
    (tmp_path / "out").mkdir()
    info, _ = reduce_json(
        capsys, str(rec.path), "--latency", "0.01", "--csv", str(csv), "--plot", str(png)
    )
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(p.name for p in csv.parent.iterdir()) == ["lc.csv"]  # no temp files left
    lc = read_lightcurve(csv)
    assert [a.name for a in lc.apertures][0] == "target" and len(lc) == 240
    assert lc.times_s is not None and lc.utc(float(lc.times_s[0])) == START  # latency removed
    again, _ = reduce_json(capsys, str(csv))  # our CSV is a valid input
    assert again["timestamp_source"] == "csv timeInfo"
    for edge in ("D", "R"):
        assert abs((utc(again[edge]) - utc(info[edge])).total_seconds()) < 2e-4


def test_real_astrid_light_curve(capsys: pytest.CaptureFixture[str]) -> None:
    info, _ = reduce_json(capsys, str(REAL))
    assert info["event"] is True and info["false_event_probability"] < 1e-4
    assert info["date_known"] and info["timestamp_source"] == "csv timeInfo"
    pyote = json.loads(PYOTE.read_text())[0]
    for edge in ("D", "R"):
        ours, theirs = utc(info[edge]), utc(pyote[f"pyote_{edge}_utc"])
        # the two solvers agree within our 95% bar (plus PyOTE's whole-frame choice)
        assert (
            abs((ours - theirs).total_seconds())
            <= info[f"{edge}_err95_s"] + 0.5 * info["cadence_s"]
        )
    assert 0 < info["duration_s"] < 5 and 2 < info["snr"] < 10  # "drop-to-noise ratio about 3"


def test_csv_column_choice_and_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = Path("/work/shared/data/lightcurves/synthetic_3.csv")
    info, err = reduce_json(capsys, str(src), "--date", "2022-12-25")
    assert info["event"] is True and info["D"].startswith("2022-12-25T00:00:")
    assert main(["reduce", str(src), "--column", "nope", *FAST]) == 2
    assert "no signal column named 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ["missing.ser"], "missing.ser: no such file"),
        (b"hello, not a video", ["bad.ser"], "bad.ser: only 18 bytes"),
        (
            b"FrameNum,timeInfo,signal-a\n0,[00:00:01.0],1\n1,[00:00:01.1],x\n",
            ["bad.csv"],
            "bad.csv:3: column 'signal-a': 'x' is not a number",
        ),
        (b"FrameNum,timeInfo,signal-a\n0,,1\n", ["short.csv"], "only 1 frames"),
        (None, ["any.ser", "--target", "12"], "--target: '12' is not X,Y"),
        (None, ["any.ser", "--plot", "x.jpg"], "--plot: x.jpg must end in .png"),
    ],
)
def test_bad_input_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: bytes | None,
    args: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    if make is not None:
        Path(args[0]).write_bytes(make)
    assert main(["reduce", *args, *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ekos-occult reduce: error:") and message in err
    assert list(tmp_path.glob("*.png")) == []


def test_unwritable_csv_leaves_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "w.ser", Scene(n_frames=60, d=20.5, r=30.5))
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["reduce", str(rec.path), *FAST, "--csv", str(blocked / "lc.csv")]) == 2
    assert "--csv: " in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "config") == ["file", "w.ser"]


def test_header_counting_one_frame_too_few_gives_the_right_times(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import struct

    rec = make_recording(tmp_path / "a.ser", Scene())
    raw = bytearray(rec.path.read_bytes())
    struct.pack_into("<i", raw, 38, rec.n_frames - 1)  # FrameCount one short
    rec.path.write_bytes(bytes(raw))
    info, err = reduce_json(capsys, str(rec.path))
    assert_edges(info, rec)  # D and R on 2024-03-14, not in year 0203
    assert info["frames"] == rec.n_frames
    assert f"header field FrameCount is {rec.n_frames - 1}, but the file size" in err


def test_implausible_stamps_are_not_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    from ekos_occult.video.ser import HEADER_SIZE

    rec = make_recording(tmp_path / "a.ser", Scene())
    size = rec.path.stat().st_size
    with rec.path.open("r+b") as fh:  # frame 0 and frame 200 stamped in year 203 and 9999
        fh.seek(size - 8 * rec.n_frames)
        fh.write(np.int64(63_000_000_000_000_000).tobytes())
        fh.seek(size - 8 * rec.n_frames + 8 * 200)
        fh.write(np.int64(3_155_000_000_000_000_000).tobytes())
    assert rec.path.stat().st_size == size and HEADER_SIZE == 178
    info, err = reduce_json(capsys, str(rec.path))
    assert_edges(info, rec)
    assert "trailer timestamps of 2 frames (first: frame 0" in err
    assert "2 missing or implausible frame stamps interpolated" in err


def test_host_stamps_corrected_by_default_with_a_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An INDI file is stamped one exposure (+ delay) late: D/R right with no --latency."""
    rec = make_recording(tmp_path / "h.ser", Scene(cadence_s=0.05))
    info, err = reduce_json(capsys, str(rec.path))
    assert_edges(info, rec)
    ts = info["timestamps"]
    assert ts["source"] == "host write time" and ts["convention"] == "start of exposure"
    assert ts["correction_s"] == pytest.approx(0.05 + DEFAULT_ACQUISITION_DELAY_S, abs=1e-5)
    assert info["latency_s"] == pytest.approx(ts["correction_s"], abs=1e-7)
    b = ts["budget"]
    assert b["acquisition_delay_uncertainty_s"] == DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S
    assert b["timestamp_s"] == pytest.approx(DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S, rel=0.01)
    assert b["clock_error_s"] is None and "unknown" in b["clock_from"]
    assert ts["uncertainty_s"] is None  # the clock at recording time is unknown: said, not 0
    assert b["fit_D_s"] == info["D_err_s"] and ts["D_err_total_s"] is None
    assert "host write times are late by one exposure (0.05 s" in err
    lazy, _ = reduce_json(capsys, str(rec.path), "--latency", "0")
    assert_edges(lazy, rec, shift_s=0.05)


def _journal(rec_path: Path, camera: str, clock: dict[str, Any]) -> None:
    line = {
        "type": "event",
        "name": "e",
        "file": str(rec_path),
        "exposure_s": 0.05,
        "timestamp_source": "host clock",
        "timestamps": {"source": "host write time", "camera": camera},
        "clock": clock,
    }
    (rec_path.parent.parent / "journal.jsonl").write_text(json.dumps(line) + "\n")


def test_journal_gives_exposure_camera_and_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec_dir = tmp_path / "night" / "recordings"
    rec_dir.mkdir(parents=True)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[camera."ASI462MM"]\nacquisition_delay_s = 0.021\n')
    rec = make_recording(rec_dir / "e.ser", Scene(cadence_s=0.05, latency_s=0.05 + 0.021))
    clock = {"synchronised": True, "max_error_s": 0.012, "est_error_s": 0.001, "at": "x"}
    _journal(rec.path, "ASI462MM", clock)
    info, err = reduce_json(capsys, str(rec.path), "--config", str(cfg))
    assert_edges(info, rec)
    ts = info["timestamps"]
    assert ts["correction_s"] == pytest.approx(0.05 + 0.021, abs=1e-6)
    assert ts["exposure_from"] == "the night journal"
    assert ts["budget"]["acquisition_delay_from"] == "config for 'ASI462MM'"
    assert ts["budget"]["sampling"] == "exposure"
    assert ts["budget"]["clock_error_s"] == 0.012 and ts["budget"]["clock_synchronised"] is True
    sigma = DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S
    assert ts["uncertainty_s"] == pytest.approx(math.hypot(sigma, 0.012), rel=0.05)
    total = ts["D_err_total_s"]
    assert total == pytest.approx(math.hypot(info["D_err_s"], ts["uncertainty_s"]), rel=0.05)


def test_ccd_simulator_recording_is_dated_between_its_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sandbox camera samples the sky when it draws, at an irregular pace under load: D and
    R land within half the interval between the samples around them (truth known)."""
    rec_dir = tmp_path / "night" / "recordings"
    rec_dir.mkdir(parents=True)
    _, delay, sigma, sampling = MEASURED_DELAYS[0]  # the CCD Simulator's measured model
    assert sampling == "instant"
    sc = Scene(
        cadence_s=0.05,
        d=81.3,
        r=132.6,
        sampling="instant",
        sample_offset_s=-delay,
        intervals_s=(0.05, 0.052, 0.11, 0.171, 0.06, 0.13, 0.054, 0.093, 0.155, 0.07, 0.05),
    )
    rec = make_recording(rec_dir / "e.ser", sc)
    g, _ = instant_timeline(sc)
    _journal(rec.path, "CCD Simulator", {"synchronised": False, "max_error_s": 16.0})
    info, err = reduce_json(capsys, str(rec.path))
    ts = info["timestamps"]
    assert ts["budget"]["sampling"] == "instant"
    assert "measured for 'CCD Simulator'" in ts["budget"]["acquisition_delay_from"]
    assert ts["budget"]["sampling_s"] == pytest.approx(info["cadence_s"] / math.sqrt(12))
    assert "one instant per frame" in err
    for edge, truth in (("D", rec.d_utc), ("R", rec.r_utc)):
        t = (truth - START).total_seconds()
        k = int(np.searchsorted(g, t))  # the first sample after the edge
        half = 0.5 * (g[k] - g[k - 1])
        err_s = (utc(info[edge]) - truth).total_seconds()
        assert abs(err_s) <= half + 0.002, (edge, err_s, half)
    lazy, _ = reduce_json(capsys, str(rec.path), "--latency", "0")  # raw stamps: late
    assert (utc(lazy["D"]) - rec.d_utc).total_seconds() > 0.05


def test_config_camera_delay_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = make_recording(tmp_path / "c.ser", Scene(cadence_s=0.04, latency_s=0.04 + 0.021))
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        "[camera]\nacquisition_delay_s = 0.021\nacquisition_delay_uncertainty_s = 0.004\n"
    )
    assert main(["--config", str(cfg), "reduce", str(rec.path), *FAST, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert_edges(info, rec)
    b = info["timestamps"]["budget"]
    assert b["acquisition_delay_s"] == 0.021 and b["acquisition_delay_from"] == "[camera] default"


def test_disk_full_on_the_second_output_writes_neither(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import ekos_occult.files as files

    rec = make_recording(tmp_path / "a.ser", Scene())
    plot, csv = tmp_path / "lc.png", tmp_path / "lc.csv"
    real, calls = files._write_fd, []

    def fill_up(fd: int, data: bytes) -> None:
        calls.append(data)
        if len(calls) == 2:  # the plot is staged, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(files, "_write_fd", fill_up)
    rc = main(["reduce", str(rec.path), *FAST, "--plot", str(plot), "--csv", str(csv)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"--csv: cannot write {csv}: No space left on device; nothing was written." in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ser"]  # no plot either
