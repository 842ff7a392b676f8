"""Recording size estimates and the free-space verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from ekos_occult.files import format_bytes
from ekos_occult.video.diskspace import (
    FrameGeometry,
    estimate_recording_bytes,
    free_bytes,
    judge_space,
)

SIM = FrameGeometry(1280, 1024, 2)  # the INDI CCD simulator, 16 bit


def test_estimate_is_header_plus_frames_plus_stamps() -> None:
    # 10 s at 0.1 s: 100 frames, counted 5 % high and +1 -> 106 frames.
    size = estimate_recording_bytes(SIM, 0.1, 10.0)
    assert size == 178 + 106 * (1280 * 1024 * 2 + 8)
    assert size > 100 * SIM.frame_bytes  # never below the nominal size
    rgb = FrameGeometry(100, 100, 1, planes=3)
    assert estimate_recording_bytes(rgb, 1.0, 1.0) == 178 + 3 * (30_000 + 8)


def test_estimate_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        estimate_recording_bytes(SIM, 0.0, 10.0)


def test_verdict_needs_the_margin_too() -> None:
    assert judge_space(1000, 1500, 500).is_enough
    short = judge_space(1000, 1499, 500)
    assert not short.is_enough
    assert short.reason == (
        "not enough free disk: the recording needs about 1000 B plus a 500 B margin, only "
        "1.5 KiB free; free some space or use a smaller ROI"
    )
    assert judge_space(1, 10**9, 0).reason == ""


def test_free_bytes_asks_the_nearest_existing_folder(tmp_path: Path) -> None:
    free = free_bytes(tmp_path / "not" / "yet")
    assert free == free_bytes(tmp_path) > 0


def test_format_bytes() -> None:
    assert [format_bytes(n) for n in (5, 2048, 5 * 1024**3, 3 * 1024**4)] == [
        "5 B",
        "2.0 KiB",
        "5.0 GiB",
        "3.0 TiB",
    ]
