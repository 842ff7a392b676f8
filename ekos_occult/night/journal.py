"""The night journal: an append-only JSON-lines file, flushed and fsynced after every entry.

Each line is one JSON object with a ``type``:

- ``"night"``: the night started, ended, was interrupted, lost or found KStars again;
- ``"transition"``: an event's job moved from one state to another (``from``, ``to``, ``reason``);
- ``"event"``: an event is finished; one line per finished event with ``name``, ``outcome``
  (``recorded``/``failed``/``skipped``), ``reason``, ``file``, ``frames``, ``dropped_frames``,
  ``first_frame_utc``, ``last_frame_utc``, ``record_start`` (planned), ``timestamp_source`` and
  ``steps`` (planned and actual time of each step).

A power cut can cost at most the line being written: :func:`read_journal` ignores a torn last
line, so a restarted ``run`` can read back what is done (:func:`finished_events`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import IO, Any

from ekos_occult.errors import RecordingError

__all__ = [
    "JOURNAL_NAME",
    "Journal",
    "MemoryJournal",
    "to_json",
    "read_journal",
    "finished_events",
    "event_key",
]

JOURNAL_NAME = "journal.jsonl"


def event_key(name: str, record_start: datetime | str) -> str:
    """The key that identifies an event across runs: its name and planned start (UTC ISO)."""
    start = record_start if isinstance(record_start, str) else _iso(record_start)
    return f"{name}@{start}"


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"journal cannot store {type(value).__name__}: {value!r}")


def to_json(entry: Mapping[str, object]) -> str:
    """One journal line (no newline): datetimes as UTC ISO ``…Z``, enums by value, paths as text."""
    return json.dumps(dict(entry), default=_default, ensure_ascii=False, sort_keys=False)


class Journal:
    """A durable :class:`~ekos_occult.night.ports.JournalSink` writing ``journal.jsonl``.

    Opening appends to an existing journal (a restarted night carries on in the same file).
    Each :meth:`append` writes one line, flushes and fsyncs before returning.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def open(self) -> Journal:
        """Open (create) the file for appending.

        Raises:
            RecordingError: the file cannot be opened.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise RecordingError(
                f"Cannot open the night journal {self.path}: {exc.strerror}. "
                "Check that --out names a writable folder."
            ) from exc
        return self

    def append(self, entry: Mapping[str, object]) -> None:
        """Write one entry and make it durable.

        Raises:
            RecordingError: the journal is closed or cannot be written (disk full, ...).
        """
        if self._fh is None:
            raise RecordingError(f"The night journal {self.path} is not open.")
        line = to_json(entry) + "\n"
        try:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise RecordingError(f"Cannot write the night journal {self.path}: {exc}.") from exc

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def is_open(self) -> bool:
        return self._fh is not None

    def __enter__(self) -> Journal:
        return self if self.is_open else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


class MemoryJournal:
    """A JournalSink that keeps entries in memory (dry runs, tests, the live view's feed)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.closed = False

    def append(self, entry: Mapping[str, object]) -> None:
        self.entries.append(json.loads(to_json(entry)))

    def close(self) -> None:
        self.closed = True


def _fsync_dir(directory: Path) -> None:
    # A new file's directory entry is only durable once the directory itself is synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Read a journal back; a missing file is an empty journal.

    A last line cut short by a crash is ignored; a broken line anywhere else is an error.

    Raises:
        RecordingError: the file cannot be read or a complete line is not a JSON object.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RecordingError(f"Cannot read the night journal {path}: {exc.strerror}.") from exc
    lines = text.split("\n")
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == len(lines):  # torn final line (no newline yet): the crash case
                break
            raise RecordingError(
                f"{path}:{number}: not a journal line ({exc.msg}). Move the file aside to start "
                "a fresh journal."
            ) from exc
        if not isinstance(entry, dict):
            raise RecordingError(f"{path}:{number}: a journal line must be a JSON object.")
        entries.append(entry)
    return entries


def finished_events(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last ``event`` line per event key (see :func:`event_key`)."""
    done: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.get("type") == "event" and "name" in entry and "record_start" in entry:
            done[event_key(str(entry["name"]), str(entry["record_start"]))] = dict(entry)
    return done
