"""Light-curve files: PyMovie/R-OTE CSV in and out, SORA .dat, cadence checks."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from ekos_occult.errors import ReductionError
from ekos_occult.reduce.cadence import check_cadence, repair_times
from ekos_occult.reduce.lightcurve import Aperture, LightCurve, TimestampSource
from ekos_occult.reduce.lightcurve_read import parse_pymovie_csv, read_lightcurve
from ekos_occult.reduce.lightcurve_write import format_pymovie_csv

DATA = Path("/work/shared/data/lightcurves")
ASTRID = DATA / "real_astrid_monachia_20240102.csv"


def test_real_pymovie_file() -> None:
    lc = read_lightcurve(ASTRID)
    text = ASTRID.read_text().splitlines()
    rows = [
        r
        for r in text[text.index(next(t for t in text if t.startswith("FrameNum"))) + 1 :]
        if r.strip()
    ]
    assert len(lc) == len(rows)
    assert [a.name for a in lc.apertures] == ["target", "tracking"]
    first = rows[0].split(",")
    assert lc.frames[0] == float(first[0]) and lc.target.signal[0] == float(first[2])
    assert lc.target.extra["xcentroid"][0] == float(first[9])  # after appsum..maxpx
    assert lc.epoch == datetime(2024, 1, 2, tzinfo=timezone.utc)
    assert lc.timestamp_source is TimestampSource.CSV
    assert lc.times_s is not None and np.all(np.diff(lc.times_s) > 0)
    start = lc.utc(float(lc.times_s[0]))
    assert start is not None and start.strftime("[%H:%M:%S.%f]") == first[1]
    cad = check_cadence(lc.times_s)
    assert 1 / cad.cadence_s == pytest.approx(7.0, rel=0.01)  # "~7 fps" camera


def test_rote_file_without_signal_prefix() -> None:
    lc = read_lightcurve(DATA / "synthetic_6.csv")
    assert [a.name for a in lc.apertures] == ["primaryData"]
    assert lc.epoch is None and "no date" in " ".join(lc.notes)
    assert lc.times_s is not None and lc.times_s[1] - lc.times_s[0] == pytest.approx(1.0)


def test_unpadded_seconds_and_frame_numbers() -> None:
    lc = read_lightcurve(DATA / "synthetic_1.csv")
    assert lc.times_s is not None and lc.times_s[1] == pytest.approx(0.0344)
    assert lc.frames[0] == 0.0


def _curve(epoch: datetime | None, times: list[float]) -> LightCurve:
    n = len(times)
    sig = np.linspace(100.0, 200.0, n)
    extra = {"xcentroid": np.full(n, 12.5), "ycentroid": np.full(n, 7.25)}
    return LightCurve(
        "x.ser",
        np.arange(n, dtype=float),
        np.asarray(times),
        epoch,
        (Aperture("target", sig, extra), Aperture("ref-1", sig * 2, extra)),
        TimestampSource.TRAILER,
    )


def test_write_then_read_back(tmp_path: Path) -> None:
    epoch = datetime(2024, 3, 14, 23, 59, 59, 900000, tzinfo=timezone.utc)
    lc = _curve(epoch, [0.0, 0.04, 0.08, 0.12, 0.16])  # crosses midnight
    text = format_pymovie_csv(lc, ["hello"])
    lines = text.split("\n")
    assert "PyMovie" in lines[0]  # PyOTE sniffs line 1
    assert "# date at frame 0: 2024-03-14" in lines
    assert "# hello" in lines
    header = next(ln for ln in lines if ln.startswith("FrameNum"))
    assert header.split(",")[:4] == ["FrameNum", "timeInfo", "signal-target", "signal-ref_1"]
    assert text.endswith("\n")  # PyOTE cuts the last character of every data line
    back = parse_pymovie_csv(text, "back.csv")
    assert back.epoch == datetime(2024, 3, 14, tzinfo=timezone.utc)
    assert back.times_s is not None and lc.times_s is not None
    got = [back.utc(float(t)) for t in back.times_s]
    want = [lc.utc(float(t)) for t in lc.times_s]
    assert all(abs((g - w).total_seconds()) < 1e-6 for g, w in zip(got, want, strict=True))
    np.testing.assert_allclose(back.apertures[1].signal, lc.apertures[1].signal, atol=0.005)
    assert back.target.extra["ycentroid"][0] == 7.25


def test_no_timestamps_means_frame_index(tmp_path: Path) -> None:
    text = "FrameNum,timeInfo,signal-a\n0,,1.0\n1,,2.0\n2,,3.0\n"
    lc = parse_pymovie_csv(text, "t.csv")
    assert lc.times_s is None and lc.timestamp_source is TimestampSource.FRAME_INDEX
    assert "no timestamps" in " ".join(lc.notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# nothing\n1,2,3\n", "t.csv: no column header row starting with FrameNum"),
        (
            "FrameNum,timeInfo,signal-a\n0,[00:00:01.0],1.0\n1,[00:00:01.1],x\n",
            r"t.csv:3: column 'signal-a': 'x' is not a number",
        ),
        ("FrameNum,timeInfo,signal-a\n0,[25:00:01.0],1.0\n", r"t.csv:2: column 'timeInfo'"),
        ("FrameNum,timeInfo,signal-a\n", "header row but no data rows"),
        ("FrameNum,timeInfo,signal-a,signal-a\n0,,1,2\n", "duplicated aperture name"),
        ("FrameNum,timeInfo\n0,\n", "names no signal column"),
    ],
)
def test_malformed_csv(text: str, message: str) -> None:
    with pytest.raises(ReductionError, match=message):
        parse_pymovie_csv(text, "t.csv")


def test_sora_dat_in_julian_dates() -> None:
    lc = read_lightcurve(DATA / "sora" / "lc_example.dat")
    assert lc.times_s is not None and lc.epoch is not None
    start = lc.utc(float(lc.times_s[0]) + 0.1002 / 2)  # back to the file's mid-exposure time
    assert start is not None
    assert start.isoformat().startswith("2017-06-22T21:20:00")  # JD 2457927.38888954


def test_cadence_finds_dropped_and_repeated_frames() -> None:
    t = np.arange(100) * 0.04
    t = np.delete(t, [10, 50, 51])  # one frame lost, then two
    t = np.insert(t, 20, t[19])  # a repeated stamp
    rep = check_cadence(t)
    assert rep.cadence_s == pytest.approx(0.04)
    assert rep.dropped_frames == 3 and rep.gaps == ((10, 1), (50, 2))
    assert rep.duplicates == 1 and rep.backwards == 0
    assert "3 dropped frames" in rep.describe()[0]


def test_cadence_jitter_is_irregular() -> None:
    rng = np.random.default_rng(3)
    regular = check_cadence(np.arange(500) * 0.04)
    assert not regular.irregular and regular.describe() == []
    jittery = check_cadence(np.cumsum(0.04 + rng.normal(0, 0.008, 500)))
    assert jittery.irregular and jittery.jitter_s == pytest.approx(0.008, rel=0.3)


# --- timestamp integrity (issue 14) and Tangra exports (issue 11) ---

TANGRA = Path("/work/shared/data/field/tangra-adv-excerpt/tangra_v3.7_adv_excerpt.csv")


def _issue_example() -> tuple[np.ndarray, np.ndarray]:
    """12 readings 0.1 s apart: FrameNum 4 missing, frame 8 stamped 0.1 s early."""
    frames = np.array([f for f in range(1, 14) if f != 4], dtype=float)
    times = 0.1 * frames
    times[list(frames).index(8)] -= 0.1
    return frames, times


def test_isolated_misread_is_one_bad_stamp_and_frame_numbers_place_the_drop() -> None:
    frames, times = _issue_example()
    rep = check_cadence(times, frames)
    assert rep.dropped_frames == 1 and rep.gap_frames == (5.0,) and rep.gaps == ((3, 1),)
    assert rep.bad_stamp_frames == (8.0,) and rep.bad_stamps == (6,)
    assert rep.duplicates == 0 and rep.backwards == 0 and not rep.irregular
    assert rep.describe()[0] == "1 dropped frame (1 before frame 5)."
    assert rep.describe()[1].startswith("1 bad timestamp (frame 8)")
    fixed = repair_times(times, frames, rep)
    np.testing.assert_allclose(fixed, 0.1 * frames)


def test_issue_example_through_the_csv_reader() -> None:
    frames, times = _issue_example()
    rows = [f"{f:.0f},[00:00:{t:06.3f}],{100 + f}" for f, t in zip(frames, times, strict=True)]
    lc = parse_pymovie_csv("FrameNum,timeInfo,signal-a\n" + "\n".join(rows) + "\n", "t.csv")
    assert lc.times_s is not None
    rep = check_cadence(lc.times_s, lc.frames)
    assert (rep.dropped_frames, rep.gap_frames, rep.bad_stamp_frames) == (1, (5.0,), (8.0,))


def test_a_run_of_late_stamps_is_dropped_frames_not_bad_stamps() -> None:
    t = np.delete(np.arange(60) * 0.04, [30, 31])  # a SER: frames numbered by position
    rep = check_cadence(t)
    assert rep.dropped_frames == 2 and rep.gaps == ((30, 2),) and rep.bad_stamps == ()


def test_irregular_clock_is_not_called_misreads() -> None:
    flagged = []
    for seed in range(20):  # jitter 3/8 of a frame: a poor host clock, not OCR misreads
        rng = np.random.default_rng(seed)
        rep = check_cadence(np.cumsum(0.04 + rng.normal(0, 0.015, 400)))
        assert rep.irregular
        flagged.append(len(rep.bad_stamps))
    assert sum(flagged) <= 0.01 * 20 * 400


def test_untimed_frames_interpolated_between_timed_neighbours() -> None:
    text = (
        "Tangra v3.7.0.5\n\nFrameNo,Time (UT),Signal (1), Background (1)\n"
        "10,[23:59:59.900],500,100\n"
        + "".join(f"{f},[??:??:??.???],500,100\n" for f in range(11, 15))
        + "15,[00:00:00.200],500,100\n"
    )
    lc = parse_pymovie_csv(text, "t.csv")
    assert lc.timestamp_source is TimestampSource.CSV and lc.times_s is not None
    np.testing.assert_allclose(lc.times_s - 86_400.0, np.arange(-0.1, 0.21, 0.06), atol=1e-9)
    assert any("4 untimed frames" in n for n in lc.notes)


def test_tangra_export_background_subtracted() -> None:
    lc = read_lightcurve(TANGRA)
    assert [a.name for a in lc.apertures] == [f"Signal ({k})" for k in range(1, 5)]
    first = TANGRA.read_text().splitlines()[17].split(",")  # frame 7
    assert first[0] == "7" and lc.frames[0] == 7.0
    assert lc.target.signal[0] == float(first[2]) - float(first[3])  # 87877 - 44718
    assert lc.apertures[3].signal[0] == float(first[8]) - float(first[9])
    assert 36_000 < float(np.median(lc.target.signal)) < 45_000  # not ~85 000
    assert lc.times_s is not None and lc.times_s[0] == pytest.approx(8 * 3600 + 48 * 60 + 48.666)
    rep = check_cadence(lc.times_s, lc.frames)
    assert rep.cadence_s == pytest.approx(0.060, abs=1e-3) and rep.describe() == []


def test_tangra_already_subtracted_is_left_alone() -> None:
    text = (
        "Tangra v3.7\nSignalMinusBackground\nFrameNo,Time (UT),Signal (1), Background (1)\n"
        "1,[01:00:00.00],500,100\n2,[01:00:00.04],510,100\n"
    )
    lc = parse_pymovie_csv(text, "t.csv")
    assert list(lc.target.signal) == [500.0, 510.0]
    assert [a.name for a in lc.apertures] == ["Signal (1)"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,[24:00:00.00],5", r"t.csv:3: column 'timeInfo': .* out of range"),
        ("1,[12:61:00.00],5", r"t.csv:3: column 'timeInfo': .* out of range"),
        ("1,[12:00:nan],5", r"t.csv:3: column 'timeInfo'"),
        ("1,[12:00:1e3],5", r"t.csv:3: column 'timeInfo'"),
        ("1,[aa:00:00.0],5", r"t.csv:3: column 'timeInfo': .* not \[HH:MM:SS.sss\]"),
        ("1,[12:00],5", r"t.csv:3: column 'timeInfo'"),
        ("inf,[12:00:00],5", r"t.csv:3: column 'FrameNum': 'inf' is not a finite number"),
        ("1,[12:00:00],nan", r"t.csv:3: column 'signal-a': 'nan' is not a finite number"),
        (",[12:00:00],5", r"t.csv:3: column 'FrameNum': no frame number"),
    ],
)
def test_bad_time_or_number_named_by_line_and_column(row: str, message: str) -> None:
    with pytest.raises(ReductionError, match=message):
        parse_pymovie_csv(f"# x\nFrameNum,timeInfo,signal-a\n{row}\n", "t.csv")


@pytest.mark.parametrize("date", ["2024-13-01", "0000-01-01", "2024-02-30", "2024-1x-01"])
def test_bad_date_line_named(date: str) -> None:
    text = f"# PyMovie\n# date at frame 0: {date}\nFrameNum,timeInfo,signal-a\n0,,1\n"
    with pytest.raises(ReductionError, match=r"t.csv:2: field 'date at frame 0'"):
        parse_pymovie_csv(text, "t.csv")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("inf 1.0", r"t.dat:2: field 'time': inf is not finite"),
        ("2457927.5 nan", r"t.dat:2: field 'flux': nan is not finite"),
        ("1e300 1.0", r"t.dat:2: field 'time': '1e300' is neither a Julian date"),
        ("9999999999 1.0", r"t.dat:2: field 'time'"),
    ],
)
def test_sora_dat_times_checked(tmp_path: Path, row: str, message: str) -> None:
    p = tmp_path / "t.dat"
    p.write_text(f"2457927.5 1.0\n{row}\n")
    with pytest.raises(ReductionError, match=message.replace("t.dat", str(p))):
        read_lightcurve(p)
