"""The night journal: one durable JSON line per entry, read back for a restart."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

import pytest

from ekos_occult.errors import RecordingError
from ekos_occult.night.journal import (
    Journal,
    MemoryJournal,
    event_key,
    finished_events,
    read_journal,
    to_json,
)

T = datetime(2026, 11, 21, 20, 6, 0, 123456, tzinfo=timezone.utc)


class Colour(str, Enum):
    RED = "red"


def test_entries_are_json_lines_with_utc_z_times(tmp_path: Path) -> None:
    path = tmp_path / "night" / "journal.jsonl"
    with Journal(path) as j:
        j.append(
            {
                "type": "event",
                "name": "Vega ✓",
                "record_start": T,
                "file": tmp_path / "a.ser",
                "outcome": Colour.RED,
                "flags": ("x",),
            }
        )
        j.append({"type": "night", "what": "end"})
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first == {
        "type": "event",
        "name": "Vega ✓",
        "record_start": "2026-11-21T20:06:00.123456Z",
        "file": str(tmp_path / "a.ser"),
        "outcome": "red",
        "flags": ["x"],
    }


def test_every_append_is_fsynced_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    j = Journal(path).open()
    monkeypatch.setattr(os, "fsync", spy)
    j.append({"type": "night", "what": "start"})
    assert len(synced) == 1
    # On disk, complete, before close.
    assert json.loads(path.read_text())["what"] == "start"
    j.append({"type": "night", "what": "end"})
    assert len(synced) == 2
    j.close()
    j.close()  # idempotent
    with pytest.raises(RecordingError, match="not open"):
        j.append({"type": "x"})


def test_reopening_appends(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal(path) as j:
        j.append({"n": 1})
    with Journal(path) as j:
        j.append({"n": 2})
    assert [e["n"] for e in read_journal(path)] == [1, 2]


def test_read_ignores_a_torn_last_line_only(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"n": 1}\n{"n": 2}\n{"n": 3, "na', encoding="utf-8")
    assert [e["n"] for e in read_journal(path)] == [1, 2]
    path.write_text('{"n": 1}\n{"n": \n{"n": 3}\n', encoding="utf-8")
    with pytest.raises(RecordingError, match=r"journal.jsonl:2: not a journal line"):
        read_journal(path)
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(RecordingError, match="must be a JSON object"):
        read_journal(path)
    assert read_journal(tmp_path / "missing.jsonl") == []


def test_unwritable_journal_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RecordingError, match="Cannot open the night journal"):
        Journal(blocker / "journal.jsonl").open()


def test_finished_events_keeps_the_last_line_per_event() -> None:
    later = T + timedelta(hours=1)
    entries = [
        {"type": "event", "name": "A", "record_start": to_iso(T), "outcome": "failed"},
        {"type": "transition", "name": "A", "record_start": to_iso(T), "to": "done"},
        {"type": "event", "name": "A", "record_start": to_iso(T), "outcome": "recorded"},
        {"type": "event", "name": "A", "record_start": to_iso(later), "outcome": "failed"},
    ]
    done = finished_events(entries)
    assert done[event_key("A", T)]["outcome"] == "recorded"
    assert done[event_key("A", later)]["outcome"] == "failed"
    assert len(done) == 2


def test_memory_journal_stores_what_the_file_would() -> None:
    m = MemoryJournal()
    m.append({"at": T})
    m.close()
    assert m.entries == [{"at": "2026-11-21T20:06:00.123456Z"}] and m.closed


def test_unknown_values_are_refused() -> None:
    with pytest.raises(TypeError, match="journal cannot store object"):
        to_json({"x": object()})


def to_iso(t: datetime) -> str:
    return json.loads(to_json({"t": t}))["t"]
