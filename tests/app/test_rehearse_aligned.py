"""rehearse's "aligned" verdict, read from the night journal's progress lines and flags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ekos_occult.app.rehearse import _aligned
from ekos_occult.night.supervisor import NOT_PLATE_SOLVED

STEPS = ("Track", "Align")


def _journal(tmp_path: Path, phases: list[str], flags: list[str] = []) -> Path:  # noqa: B006
    path = tmp_path / "journal.jsonl"
    lines = [{"type": "progress", "name": "A", "phase": p, "detail": ""} for p in phases]
    lines.append({"type": "event", "name": "A", "outcome": "recorded", "flags": flags})
    lines.append({"type": "progress", "name": "B", "phase": "complete", "detail": ""})
    path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("phases", "aligned"),
    [
        (["queued", "slewing", "aligning", "capturing", "complete"], True),
        # the job overran and was stopped for the recording while taking its control frame
        # (seen in a CI run): Ekos had gone past Align, so the pointing was plate-solved
        (["queued", "slewing", "aligning", "capturing"], True),
        (["queued", "slewing", "aligning"], False),  # stopped while still solving
        (["queued", "slewing", "capturing", "complete"], False),  # Align never ran
    ],
)
def test_aligned_when_the_job_went_past_align(
    tmp_path: Path, phases: list[str], aligned: bool
) -> None:
    assert _aligned(_journal(tmp_path, phases), "A", STEPS) is aligned


def test_not_aligned_when_flagged_or_without_the_align_step(tmp_path: Path) -> None:
    full = ["queued", "slewing", "aligning", "capturing", "complete"]
    flagged = _journal(tmp_path, full, [f"{NOT_PLATE_SOLVED}: Align failed"])
    assert _aligned(flagged, "A", STEPS) is False
    assert _aligned(_journal(tmp_path, full), "A", ("Track",)) is False
