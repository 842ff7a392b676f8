"""The night journal: an append-only JSON-lines file, flushed and fsynced after every entry.

Each line is one JSON object with a ``type``:

- ``"night"``: the night started, ended, was interrupted, lost or found KStars again;
- ``"transition"``: an event's job moved from one state to another (``from``, ``to``, ``reason``);
- ``"event"``: an event is finished; one line per finished event with ``name``, ``outcome``
  (``recorded``/``failed``/``skipped``), ``reason``, ``file``, ``frames``, ``dropped_frames``,
  ``first_frame_utc``, ``last_frame_utc``, ``record_start`` (planned), ``timestamp_source`` and
  ``steps`` (planned and actual time of each step).

A power cut can cost at most the line being written. Opening a journal whose end is torn (no
final newline, or unparsable last lines, e.g. the zeros a crash can leave) copies that tail to
``journal.jsonl.torn``, cuts it off and journals a ``"journal"`` line saying so, so the next
entry starts on a line of its own and every acknowledged (fsynced) entry stays readable however
many times the night is restarted. :func:`read_journal` ignores a torn tail too, so a restarted
``run`` can read back what is done (:func:`finished_events`).

A write that fails during the night (disk full, I/O error) does not stop the night: the entry is
kept in memory and printed on stderr, every later append (and :meth:`Journal.close`) tries
again to write what is pending, and :attr:`Journal.failure` says what failed at the end.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from ekos_occult.errors import RecordingError
from ekos_occult.utc import format_utc

__all__ = [
    "TORN_SUFFIX",
    "Journal",
    "to_json",
    "read_journal",
    "intact_length",
    "finished_events",
    "event_key",
]

TORN_SUFFIX = ".torn"
"""Torn tails cut off a journal are kept in ``<journal>.torn`` (appended, one per line)."""


def event_key(name: str, record_start: datetime | str) -> str:
    """The key that identifies an event across runs: its name and planned start (UTC ISO)."""
    start = record_start if isinstance(record_start, str) else format_utc(record_start)
    return f"{name}@{start}"


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return format_utc(value)
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

    Opening appends to an existing journal (a restarted night carries on in the same file)
    after cutting off a torn tail (see the module docstring). Each :meth:`append` writes one
    line, then fsyncs, before returning.

    Args:
        path: the journal file.
        now: the clock for the ``at`` of the journal's own lines (none without it).
        stderr: where entries that cannot be written are printed (default ``sys.stderr``).
    """

    def __init__(
        self,
        path: Path,
        now: Callable[[], datetime] | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.path = path
        self._now = now
        self._stderr = stderr
        self._fd: int | None = None
        self._size = 0  # bytes of acknowledged entries: the file is cut back to this
        self._pending: list[bytes] = []  # lines not written yet (oldest first)
        self._errors: list[str] = []
        self._failed_entries = 0

    def open(self) -> Journal:
        """Open (create) the file for appending; cut off and keep aside a torn tail.

        Raises:
            RecordingError: the file cannot be opened or repaired.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        except OSError as exc:
            raise RecordingError(
                f"Cannot open the night journal {self.path}: {exc.strerror}. "
                "Check that --out names a writable folder."
            ) from exc
        try:
            data = _read_fd(fd)
            good = intact_length(data)
            if good < len(data):
                self._keep_torn(data[good:])
                os.ftruncate(fd, good)
                os.fsync(fd)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            os.close(fd)
            raise RecordingError(
                f"Cannot repair the night journal {self.path}: {exc.strerror or exc}. "
                "Free some space, or move the file aside to start a fresh journal."
            ) from exc
        self._fd, self._size = fd, good
        if good < len(data):
            note: dict[str, object] = {"type": "journal", "what": "torn tail"}
            if self._now is not None:
                note["at"] = self._now()
            note |= {
                "bytes": len(data) - good,
                "offset": good,
                "kept_in": str(self._torn_path()),
                "detail": "the last line was cut short (a crash or a full disk); it was "
                "moved aside and the journal goes on from the last complete entry.",
            }
            self.append(note)
        return self

    def _torn_path(self) -> Path:
        return self.path.with_name(self.path.name + TORN_SUFFIX)

    def _keep_torn(self, tail: bytes) -> None:
        fd = os.open(self._torn_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            _write_all(fd, tail if tail.endswith(b"\n") else tail + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, entry: Mapping[str, object]) -> None:
        """Write one entry and make it durable; if that fails, keep it to write later.

        A failed write (disk full, ...) is cut back off the file, the entry printed on stderr
        and kept in memory; the next append (or :meth:`close`) writes it first. See
        :attr:`failure`.

        Raises:
            RecordingError: the journal is not open.
            TypeError: a value the journal cannot store.
        """
        if self._fd is None:
            raise RecordingError(f"The night journal {self.path} is not open.")
        line = (to_json(entry) + "\n").encode("utf-8")
        self._pending.append(line)
        if not self._flush():
            self._failed_entries += 1
            err = self._stderr if self._stderr is not None else sys.stderr
            try:
                print(
                    f"ekos-occult: journal entry not written yet ({self._errors[-1]}): "
                    f"{line.decode('utf-8').rstrip()}",
                    file=err,
                    flush=True,
                )
            except (OSError, ValueError):  # stderr gone too: the entry is still in memory
                pass

    def _flush(self) -> bool:
        """Write the pending lines after the acknowledged ones; True when none is left."""
        if not self._pending or self._fd is None:
            return not self._pending
        data = b"".join(self._pending)
        try:
            os.ftruncate(self._fd, self._size)  # drop what a failed write left half-written
            _write_all(self._fd, data, self._size)
            os.fsync(self._fd)
        except OSError as exc:
            self._errors.append(exc.strerror or str(exc))
            try:  # leave only whole entries on disk (shrinking needs no space)
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            return False
        self._size += len(data)
        self._pending.clear()
        return True

    @property
    def unwritten(self) -> tuple[str, ...]:
        """The entries (JSON lines) not on disk yet."""
        return tuple(line.decode("utf-8").rstrip("\n") for line in self._pending)

    @property
    def failure(self) -> str | None:
        """What went wrong writing the journal, in words for the user; None when nothing did."""
        if not self._errors:
            return None
        reasons = ", ".join(dict.fromkeys(self._errors))
        left = len(self._pending)
        if left:
            return (
                f"{left} journal entries could not be written to {self.path} ({reasons}); "
                "they were printed on stderr."
            )
        return (
            f"writing the journal {self.path} failed {len(self._errors)} time(s) ({reasons}); "
            f"the {self._failed_entries} entries concerned were written later."
        )

    def close(self) -> None:
        """Write what is pending (one more try), then close the file. Idempotent; never raises:
        see :attr:`failure` and :attr:`unwritten`."""
        if self._fd is None:
            return
        self._flush()
        try:
            os.close(self._fd)
        except OSError as exc:  # pragma: no cover - close after fsync rarely fails
            self._errors.append(exc.strerror or str(exc))
        self._fd = None

    @property
    def is_open(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> Journal:
        return self if self.is_open else self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_fd(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes, offset: int | None = None) -> None:
    view = memoryview(data)
    while view:
        done = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        if offset is not None:
            offset += done
        view = view[done:]


def _is_json(line: bytes) -> bool:
    """Whether a complete line is a journal entry (a JSON object, or a glued fragment's)."""
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return _glued(line) is not None
    return isinstance(value, dict)  # `0`, `[]`, `"x"`: what a crash can leave, not an entry


def _glued(line: bytes) -> dict[str, Any] | None:
    """The entry at the end of a line that starts with a torn fragment, or None.

    Versions before the torn-tail repair appended the next entry right after a line cut short
    by a crash (``{"type": "ev{"type": "night", ...}``); the entry after the fragment was
    acknowledged and is kept.
    """
    at = line.find(b"{", 1)
    while at > 0:
        try:
            entry = json.loads(line[at:])
        except (ValueError, UnicodeDecodeError):
            at = line.find(b"{", at + 1)
            continue
        return entry if isinstance(entry, dict) else None
    return None


def intact_length(data: bytes) -> int:
    """How many leading bytes of a journal are whole entries: a torn tail is what follows.

    The tail is the part after the last newline (a line cut short) plus any last complete
    lines that are not JSON objects (the zeros or garbage a crash can leave, even when they
    happen to parse as a JSON number or string); blank lines are whole.
    """
    good = data.rfind(b"\n") + 1
    while good > 0:
        start = data.rfind(b"\n", 0, good - 1) + 1
        line = data[start : good - 1]
        if not line.strip() or _is_json(line):
            break
        good = start
    return good


def _fsync_dir(directory: Path) -> None:
    # A new file's directory entry is only durable once the directory itself is synced.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Read a journal back; a missing file is an empty journal.

    A torn tail (see :func:`intact_length`) is ignored; a line that is a torn fragment with a
    whole entry after it (written by older versions) gives that entry; any other broken line is
    an error.

    Raises:
        RecordingError: the file cannot be read or a complete line is not a JSON object.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise RecordingError(f"Cannot read the night journal {path}: {exc.strerror}.") from exc
    lines = data[: intact_length(data)].split(b"\n")  # a torn tail: the crash case
    entries: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            entry = _glued(line)  # a fragment an older version wrote over: keep the entry
            if entry is None:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
                raise RecordingError(
                    f"{path}:{number}: not a journal line ({msg}). Move the file aside to "
                    "start a fresh journal."
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
