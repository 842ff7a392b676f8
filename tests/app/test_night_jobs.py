"""The night's single-job files are written all or none (a full disk leaves no job behind)."""

from __future__ import annotations

import errno
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import ekos_occult.files as files
from ekos_occult.app.night import _write_jobs
from ekos_occult.errors import OutputError
from ekos_occult.settings import Settings
from tests.render_helpers import three_event_plan


def _report() -> Any:
    from datetime import timezone

    return SimpleNamespace(file_format="3.6", tz=timezone.utc)


def test_every_job_file_is_written_and_named(tmp_path: Path) -> None:
    plan = three_event_plan()
    paths = _write_jobs(plan, Settings(), _report(), tmp_path)
    assert sorted(paths) == sorted(ev.name for ev in plan.scheduled)
    for path in paths.values():
        assert path.parent == tmp_path / "jobs" and path.suffix == ".esl" and path.is_file()


@pytest.mark.parametrize("nth", [1, 3, 5])
def test_a_full_disk_leaves_no_job_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    real, calls = files._write_fd, []

    def fill_up(fd: int, data: bytes) -> None:
        calls.append(data)
        if len(calls) == nth:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(files, "_write_fd", fill_up)
    with pytest.raises(OutputError, match="No space left on device. Nothing was written"):
        _write_jobs(three_event_plan(), Settings(), _report(), tmp_path)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
