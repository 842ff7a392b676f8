"""Every journal entry of the night to the journal and to the live views, as the same values.

:class:`JournalFanout` stamps an entry with its type and the clock's time, turns it into plain
JSON values once (the live view sees exactly what the journal keeps) and hands it to each sink.
A live view whose writes fail (a full disk, a closed pipe) is dropped with one line on stderr;
the night goes on. The durable journal itself never raises OSError (it keeps what it could not
write and says so at the end).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ekos_occult.night.journal import to_json
from ekos_occult.night.ports import JournalSink

__all__ = ["JournalFanout"]


class JournalFanout:
    """The journal and the live views, fed together.

    Args:
        journal: the durable journal.
        observers: more sinks fed every entry (live view, log lines); closed with the journal.
        now: the night's clock (UTC), for each entry's ``at``.
    """

    def __init__(
        self,
        journal: JournalSink,
        observers: Sequence[JournalSink],
        now: Callable[[], datetime],
    ) -> None:
        self.sinks: tuple[JournalSink, ...] = (journal, *observers)
        self._now = now

    def emit(self, kind: str, **fields: Any) -> None:
        """Journal one entry ``{"type": kind, "at": now, **fields}``."""
        entry = json.loads(to_json({"type": kind, "at": self._now(), **fields}))
        for sink in self.sinks:
            try:
                sink.append(entry)
            except OSError as exc:  # a live view on a full disk or a closed pipe: go on
                self._drop(sink, exc)

    def _drop(self, sink: JournalSink, exc: OSError) -> None:
        """Stop feeding a sink whose writes fail."""
        self.sinks = tuple(s for s in self.sinks if s is not sink)
        try:
            print(f"ekos-occult run: a night view stopped: {exc}", file=sys.stderr)
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        """Close every sink; a failing close never hides the night's own error."""
        for sink in self.sinks:
            try:
                sink.close()
            except OSError as exc:
                self._drop(sink, exc)
