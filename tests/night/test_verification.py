"""How a recording is judged: by INDI's report when its file is on another host."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from ekos_occult.kstars.indiwatch import RecordReport
from ekos_occult.night.ports import RecordingRequest
from ekos_occult.night.verification import INDI_ONLY, Verification, judged_by_indi
from ekos_occult.video.serverify import SerExpectation

T0 = datetime(2026, 11, 21, 20, 0, tzinfo=timezone.utc)
REQ = RecordingRequest(Path("/night/recordings"), "Vega_20261121T200000Z", 0.1, 2.0)
EXPECT = SerExpectation(T0, T0 + timedelta(seconds=2), 0.1)


def _report(**kw: object) -> RecordReport:
    base: dict[str, object] = {"file": "/sm/rec/Vega.ser", "frames": 20, "duration_s": 2.0}
    return RecordReport(**{**base, "finished": True, **kw})  # type: ignore[arg-type]


def test_indis_count_is_the_verdict_and_said_to_be_only_that() -> None:
    check = judged_by_indi(REQ, EXPECT, "sm.local", _report(skipped=2, avg_fps=9.5))
    assert check.is_usable and check.frames == 20 and check.expected_frames == 20
    assert check.path == Path("/sm/rec/Vega.ser")
    text = " | ".join(check.warnings)
    assert "sm.local" in text and "20 frames recorded of 20" in text
    assert "timestamps were not checked" in text and "skipped 2 frames" in text
    assert check.first_frame_utc is None


def test_no_frame_recorded_is_no_usable_file() -> None:
    check = judged_by_indi(REQ, EXPECT, "sm.local", _report(frames=0))
    assert not check.is_usable and "INDI recorded no frame" in check.problems


def test_errors_with_frames_recorded_are_warnings_the_file_is_worth_fetching() -> None:
    check = judged_by_indi(REQ, EXPECT, "sm", _report(frames=7, errors=("Recording failed.",)))
    assert check.is_usable and any("Recording failed." in w for w in check.warnings)


def test_without_indis_report_only_its_switch_speaks_and_the_warning_says_why() -> None:
    check = judged_by_indi(REQ, EXPECT, "sm", None, "INDI's own report was not read: refused")
    assert check.is_usable and check.frames == 0
    assert "refused" in check.warnings[0] and "not checked here" in check.warnings[0]
    assert check.path.parent == REQ.directory  # where INDI was told to write it


def test_the_journal_value() -> None:
    v = Verification(None, None, INDI_ONLY, _report(), "")
    assert v.journal()["how"] == "INDI's report only"
    assert v.journal()["indi"]["frames"] == 20  # type: ignore[index]
