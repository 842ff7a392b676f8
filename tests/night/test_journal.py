"""The night journal: one durable JSON line per entry, read back for a restart."""

from __future__ import annotations

import errno
import io
import json
import os
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

import pytest
from fakes import MemoryJournal
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import ekos_occult.night.journal as journal_module
from ekos_occult.errors import RecordingError
from ekos_occult.night.journal import (
    Journal,
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
    # a non-object line with an entry after it is no crash tail: an error
    path.write_text('[1, 2]\n{"n": 3}\n', encoding="utf-8")
    with pytest.raises(RecordingError, match="journal.jsonl:1: a journal line must be a JSON"):
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


# --- torn tails, restarts, full disks -----------------------------------------------------------


def test_a_torn_tail_is_cut_off_kept_aside_and_journaled(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2}\n{"n": 3, "na')
    with Journal(path, now=lambda: T) as j:
        j.append({"n": 4})
    entries = read_journal(path)
    assert [e.get("n") for e in entries] == [1, 2, None, 4]
    note = entries[2]
    assert note["type"] == "journal" and note["what"] == "torn tail"
    assert note["bytes"] == len(b'{"n": 3, "na') and note["at"] == "2026-11-21T20:06:00.123456Z"
    assert note["kept_in"] == str(tmp_path / "journal.jsonl.torn")
    assert (tmp_path / "journal.jsonl.torn").read_bytes() == b'{"n": 3, "na\n'
    # The second restart (the one that used to refuse the journal) reads it all.
    with Journal(path) as j:
        j.append({"n": 5})
    assert [e.get("n") for e in read_journal(path)] == [1, 2, None, 4, 5]


def test_zeros_left_by_a_crash_are_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n": 1}\n' + bytes(100) + b"\n" + bytes(50))
    assert [e["n"] for e in read_journal(path)] == [1]
    with Journal(path) as j:
        j.append({"n": 2})
    assert [e.get("n") for e in read_journal(path)] == [1, None, 2]


@pytest.mark.parametrize("tail", [b"0\n", b"[]\n", b'"x"\n', b"0\n1\n"])
def test_a_crash_tail_that_parses_as_json_but_is_no_object_is_torn(
    tmp_path: Path, tail: bytes
) -> None:
    # Found by hypothesis: a crash left `0\n` (valid JSON, a number) after the last entry.
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n": 1}\n' + tail)
    assert [e["n"] for e in read_journal(path)] == [1]
    with Journal(path) as j:
        j.append({"n": 2})
    assert [e.get("n") for e in read_journal(path)] == [1, None, 2]
    assert (tmp_path / "journal.jsonl.torn").read_bytes() == tail


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(runs=[(0, b"0\n")])  # the tail hypothesis found: JSON, but not an object
@given(
    runs=st.lists(
        st.tuples(
            st.integers(0, 4),  # entries acknowledged in this run
            st.one_of(st.none(), st.floats(0, 1), st.binary(max_size=40)),  # how it ended
        ),
        min_size=1,
        max_size=8,
    )
)
def test_every_acknowledged_entry_survives_any_number_of_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: list[tuple[int, float | bytes | None]]
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # content, not durability, is tested here
    folder = tmp_path / f"j{len(list(tmp_path.iterdir()))}"
    path = folder / "journal.jsonl"
    acknowledged: list[int] = []
    n = 0
    for count, crash in runs:
        with Journal(path) as j:
            for _ in range(count):
                n += 1
                j.append({"n": n, "text": "é ✓ " * (n % 3)})
                acknowledged.append(n)
        if isinstance(crash, float):  # cut off while writing the next line
            line = to_json({"n": -1, "text": "cut"}).encode()
            with path.open("ab") as fh:
                fh.write(line[: int(crash * (len(line) - 1))])
        elif isinstance(crash, bytes):  # whatever a crash left on the disk
            with path.open("ab") as fh:
                fh.write(crash)
        got = [e["n"] for e in read_journal(path) if e.get("type") != "journal"]
        assert got[: len(acknowledged)] == acknowledged
    with Journal(path) as j:  # one more restart always works, and appends cleanly
        j.append({"n": "last"})
    got = [e["n"] for e in read_journal(path) if e.get("type") != "journal"]
    assert [g for g in got if g != -1] == [*acknowledged, "last"]


class DiskFull:
    """Replaces the journal's writer: writes half the bytes and raises ENOSPC while ``full``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.real = journal_module._write_all
        monkeypatch.setattr(journal_module, "_write_all", self)

    def __call__(self, fd: int, data: bytes, offset: int | None = None) -> None:
        if self.full:
            self.real(fd, data[: len(data) // 2], offset)
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real(fd, data, offset)


def test_a_full_disk_keeps_entries_in_memory_and_writes_them_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    disk, err = DiskFull(monkeypatch), io.StringIO()
    j = Journal(path, stderr=err).open()
    j.append({"n": 1})
    disk.full = True
    j.append({"n": 2})  # no exception: the night goes on
    j.append({"n": 3})
    assert [e["n"] for e in read_journal(path)] == [1]  # the half-written line is not kept
    assert j.unwritten == ('{"n": 2}', '{"n": 3}')
    assert err.getvalue().count("No space left on device") == 2 and '{"n": 3}' in err.getvalue()
    disk.full = False
    j.append({"n": 4})
    assert [e["n"] for e in read_journal(path)] == [1, 2, 3, 4]
    j.close()
    assert j.failure is not None and "written later" in j.failure


def test_entries_still_unwritten_at_close_are_said_and_close_does_not_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    disk = DiskFull(monkeypatch)
    j = Journal(path, stderr=io.StringIO()).open()
    j.append({"n": 1})
    disk.full = True
    j.append({"n": 2})
    j.close()  # tries once more, fails, does not raise
    assert not j.is_open and j.unwritten == ('{"n": 2}',)
    assert j.failure == (
        f"1 journal entries could not be written to {path} (No space left on device); "
        "they were printed on stderr."
    )
    assert path.read_bytes() == b'{"n": 1}\n'  # readable, only whole entries


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(full=st.lists(st.booleans(), min_size=1, max_size=25))
def test_a_disk_that_fills_and_frees_never_loses_or_reorders_an_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: list[bool]
) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    path = tmp_path / f"j{len(list(tmp_path.iterdir()))}.jsonl"
    disk = DiskFull(monkeypatch)
    j = Journal(path, stderr=io.StringIO()).open()
    for n, is_full in enumerate(full):
        disk.full = is_full
        j.append({"n": n})
        on_disk = [e["n"] for e in read_journal(path)]
        assert on_disk + [json.loads(u)["n"] for u in j.unwritten] == list(range(n + 1))
    disk.full = False
    j.close()  # the last try writes everything
    assert [e["n"] for e in read_journal(path)] == list(range(len(full)))
    assert (j.failure is None) == (not any(full))
    monkeypatch.undo()


def test_the_journal_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = tmp_path / "journal.jsonl"
        path.write_bytes(b'{"n": 1}\n{"n"')
        with Journal(path) as j:
            j.append({"n": 2})
    finally:
        os.umask(old)
    torn = tmp_path / "journal.jsonl.torn"
    assert (torn.stat().st_mode & 0o777) == 0o640
    new = tmp_path / "new" / "journal.jsonl"
    os.umask(0o027)
    try:
        Journal(new).open().close()
    finally:
        os.umask(old)
    assert (new.stat().st_mode & 0o777) == 0o640


def test_a_journal_an_older_version_glued_onto_a_fragment_is_read_whole(tmp_path: Path) -> None:
    # What the first restart used to leave: the next entry appended onto the cut line.
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"n": 1}\n{"n": 2, "na{"n": 3}\n{"n": 4}\n{"n": 5, "x')
    assert [e["n"] for e in read_journal(path)] == [1, 3, 4]
    with Journal(path) as j:  # the restart after that no longer refuses it
        j.append({"n": 6})
    assert [e.get("n") for e in read_journal(path)] == [1, 3, 4, None, 6]
    path.write_bytes(b'{"n": 1}\n{"n": 2, "na{"n": 3}\n')  # glued as the last line: kept
    with Journal(path) as j:
        j.append({"n": 4})
    assert [e.get("n") for e in read_journal(path)] == [1, 3, 4]
