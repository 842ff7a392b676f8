"""SER verification against the plan, on real files written byte by byte."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes import write_ser

from ekos_occult.video.ser import open_ser
from ekos_occult.video.serverify import SerExpectation, check_recording, verify_ser

START = datetime(2026, 11, 21, 20, 6, tzinfo=timezone.utc)
EXPECT = SerExpectation(START, START + timedelta(seconds=10), exposure_s=0.1)


def stamps(n: int, first: float = 0.07, step: float = 0.1) -> list[datetime]:
    return [START + timedelta(seconds=first + i * step) for i in range(n)]


def test_good_recording_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "good.ser"
    write_ser(path, stamps(100), width=16, height=4)
    ser = open_ser(path)  # the fake writer's file is a SER file for the shared reader too
    assert (ser.header.file_id, ser.header.width, ser.header.height, ser.n_frames) == (
        "INDI-RECORDER",
        16,
        4,
        100,
    )
    check = verify_ser(path, EXPECT)
    assert check.is_valid, check.problems
    assert (check.frames, check.expected_frames, check.dropped_frames, check.gaps) == (
        100,
        100,
        0,
        0,
    )
    assert check.first_frame_utc == START + timedelta(seconds=0.07)
    assert check.start_delay_s == pytest.approx(0.07)
    assert check.warnings == ()


def test_gaps_are_counted_as_dropped_frames(tmp_path: Path) -> None:
    ts = stamps(100)
    # 3 frames lost after frame 20 and 1 after frame 60.
    kept = ts[:20] + ts[23:60] + ts[61:]
    path = tmp_path / "gappy.ser"
    write_ser(path, kept)
    check = verify_ser(path, EXPECT)
    assert (check.gaps, check.dropped_frames, check.frames) == (2, 4, 96)
    assert check.is_valid  # 96 % of the rate is enough; the gaps are reported
    assert "4 dropped frames in 2 gaps" in check.warnings


def test_rate_collapse_is_invalid(tmp_path: Path) -> None:
    # The Ekos-capture effect: 1 frame/s after 2 s of a 0.1 s recording.
    ts = stamps(20) + [START + timedelta(seconds=2.07 + i) for i in range(8)]
    path = tmp_path / "slow.ser"
    write_ser(path, ts)
    check = verify_ser(path, EXPECT)
    assert not check.is_valid
    assert any("28 frames where the rate (0.1 s) calls for about 100" in p for p in check.problems)
    assert (check.gaps, check.dropped_frames) == (7, 7 * 9)  # 2.07 s follows 1.97 s: no gap


def test_late_first_frame_and_short_coverage_are_invalid(tmp_path: Path) -> None:
    late = tmp_path / "late.ser"
    write_ser(late, stamps(97, first=0.4))
    check = verify_ser(late, EXPECT)
    assert any(
        "first frame 0.400 s after the planned start (allowed 0.350 s)" in p for p in check.problems
    )
    short = tmp_path / "short.ser"
    write_ser(short, stamps(95))
    check = verify_ser(short, EXPECT)
    assert any("before the planned end" in p for p in check.problems)


def test_backwards_timestamps_are_invalid(tmp_path: Path) -> None:
    ts = stamps(100)
    ts[50], ts[51] = ts[51], ts[50]
    path = tmp_path / "back.ser"
    write_ser(path, ts)
    check = verify_ser(path, EXPECT)  # the frames are usable; the bad stamp is named, unused
    assert check.frames == 100 and check.gap_list == ((49, 1),)  # frame 50 stamped a frame late
    assert any("go backwards at 1 frames (first: frame 51" in w for w in check.warnings)
    assert "1 frames have no usable timestamp; their times are not used" in check.warnings
    assert check.last_frame_utc is not None and check.first_frame_utc is not None
    assert (check.last_frame_utc - check.first_frame_utc).total_seconds() == pytest.approx(
        99 * EXPECT.exposure_s, abs=1e-3
    )


def test_repeated_timestamps_are_invalid(tmp_path: Path) -> None:
    ts = stamps(100)
    ts[51] = ts[50]
    path = tmp_path / "same.ser"
    write_ser(path, ts)
    assert "timestamps are not increasing" in verify_ser(path, EXPECT).problems


def test_unstamped_frames_at_the_ends_do_not_fake_a_year_one_start(tmp_path: Path) -> None:
    ts = stamps(100)
    ts[0] = datetime(1980, 1, 1, tzinfo=timezone.utc)  # implausible: missing for the reader
    path = tmp_path / "first.ser"
    write_ser(path, ts)
    check = verify_ser(path, EXPECT)
    assert check.first_frame_utc == ts[1] - timedelta(seconds=0.1)  # one frame before frame 1
    assert check.dropped_frames == 0 and check.gaps == 0 and check.is_valid


def test_crashed_recording_has_frames_but_no_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "crash.ser"
    write_ser(path, stamps(40), header_count=0, trailer=False)
    check = verify_ser(path, EXPECT)
    assert check.frames == 40 and not check.is_valid
    assert "FrameCount is 0 (the recording was not closed" in check.problems[0]
    assert "40 frames recovered" in check.problems[0]


def test_missing_trailer_truncated_or_missing_file(tmp_path: Path) -> None:
    no_trailer = tmp_path / "nt.ser"
    write_ser(no_trailer, stamps(100), trailer=False)
    assert "no per-frame timestamps" in verify_ser(no_trailer, EXPECT).problems[0]
    cut = tmp_path / "cut.ser"
    write_ser(cut, stamps(100))
    cut.write_bytes(cut.read_bytes()[: 178 + 64 * 30 + 10])
    check = verify_ser(cut, EXPECT)
    assert check.frames == 30
    assert "only 30 complete frames (cut short)" in check.problems[0]
    tiny = tmp_path / "tiny.ser"
    tiny.write_bytes(b"LUCAM")
    assert "only 5 bytes" in verify_ser(tiny, EXPECT).problems[0]
    check = verify_ser(tmp_path / "nope.ser", EXPECT)
    assert not check.is_valid and "cannot read" in check.problems[0]


def test_check_is_pure_on_counts_and_ticks() -> None:
    from ekos_occult.video.ser import datetime_to_ticks

    ticks = [datetime_to_ticks(t) for t in stamps(100)]
    check = check_recording(Path("x.ser"), 100, ticks, EXPECT, notes=("a note",))
    assert check.is_valid and check.warnings == ("a note",)
    assert check_recording(Path("x.ser"), 5, None, EXPECT).problems == ("no per-frame timestamps",)


def test_more_frames_than_planned_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "fast.ser"
    write_ser(path, stamps(200, step=0.05))
    check = verify_ser(path, EXPECT)
    assert check.is_valid
    assert any("more than the 100 planned" in w for w in check.warnings)
