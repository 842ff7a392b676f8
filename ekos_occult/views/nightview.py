"""What the observer sees during the night, built only from the supervisor's journal entries.

Pure part: :func:`apply` folds one journal entry into a :class:`NightView`; :func:`render` turns a
view and the time into a rich renderable (events with state, the next event with a countdown,
the current step); :func:`format_line` and :func:`format_json` give one text line per entry for
logs (plain when stdout is not a terminal; JSON lines for systemd with ``--json-log``).

Sinks (implement :class:`~ekos_occult.night.ports.JournalSink`, so the runner feeds them like the
journal): :class:`LineSink` writes lines to a stream; :class:`LiveView` keeps a rich ``Live``
display refreshed a few times a second (the countdown moves between entries).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ekos_occult.night.journal import to_json
from ekos_occult.utc import parse_utc

__all__ = [
    "EventRow",
    "NightView",
    "apply",
    "next_row",
    "countdown",
    "render",
    "format_line",
    "format_json",
    "LineSink",
    "LiveView",
]

_FINAL = ("done", "failed", "skipped")
_STYLE = {
    "done": "green",
    "failed": "bold red",
    "skipped": "dim",
    "recording": "bold magenta",
    "arming": "yellow",
    "waiting": "cyan",
    "stopping": "blue",
}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return value if isinstance(value, datetime) else None
    return parse_utc(value)


@dataclass(frozen=True)
class EventRow:
    """One event as shown: plan times, state, current step and outcome."""

    name: str
    key: str
    job_start: datetime | None
    record_start: datetime | None
    record_end: datetime | None
    state: str = "pending"
    step: str = ""
    outcome: str = ""
    reason: str = ""
    flags: int = 0

    @property
    def is_final(self) -> bool:
        return self.state in _FINAL


@dataclass(frozen=True)
class NightView:
    """The whole night as shown."""

    rows: tuple[EventRow, ...] = ()
    note: str = ""
    kstars_lost: bool = False
    ended: str = ""


def _row_from_plan(e: Mapping[str, Any]) -> EventRow:
    state = "pending" if e.get("status", "scheduled") == "scheduled" else "skipped"
    return EventRow(
        str(e["name"]),
        str(e["key"]),
        _time(e.get("job_start")),
        _time(e.get("record_start")),
        _time(e.get("record_end")),
        state=state,
    )


def _update(view: NightView, key: Any, **changes: Any) -> NightView:
    rows = tuple(replace(r, **changes) if r.key == key else r for r in view.rows)
    return replace(view, rows=rows)


def _find(view: NightView, key: Any) -> EventRow | None:
    return next((r for r in view.rows if r.key == key), None)


def apply(view: NightView, entry: Mapping[str, Any]) -> NightView:
    """The view after one journal entry (pure; unknown entries change nothing)."""
    kind, key = entry.get("type"), entry.get("key")
    if kind == "night":
        what = str(entry.get("what", ""))
        if what == "start":
            return NightView(rows=tuple(_row_from_plan(e) for e in entry.get("events", ())))
        if what in ("kstars lost", "kstars back"):
            return replace(view, note=what, kstars_lost=what == "kstars lost")
        if what in ("end", "interrupted"):
            return replace(view, ended=what, note=f"night {what}")
        return view
    row = _find(view, key)
    if row is None:
        return view
    if kind == "transition":
        step = "" if entry.get("to") in _FINAL else row.step
        flags = row.flags + len(entry.get("flags") or ())
        return _update(view, key, state=str(entry.get("to")), step=step, flags=flags)
    if kind == "progress":
        return _update(view, key, step=f"Ekos job {entry.get('phase')}")
    if kind == "event":
        frames = entry.get("frames")
        step = f"{frames} frames" if frames is not None else ""
        return _update(
            view,
            key,
            outcome=str(entry.get("outcome", "")),
            reason=str(entry.get("reason") or ""),
            step=step,
        )
    return view


def next_row(view: NightView) -> EventRow | None:
    """The event being worked on or coming next (the first one not finished)."""
    return next((r for r in view.rows if not r.is_final), None)


def _hms(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def countdown(row: EventRow, now: datetime) -> str:
    """``"record in 00:04:12"``-style text for the row's next milestone."""
    if row.state == "pending" and row.job_start is not None and now < row.job_start:
        return f"Ekos job in {_hms((row.job_start - now).total_seconds())}"
    if row.state in ("pending", "waiting", "arming") and row.record_start is not None:
        return f"record in {_hms((row.record_start - now).total_seconds())}"
    if row.state == "recording" and row.record_end is not None:
        return f"recording, {_hms((row.record_end - now).total_seconds())} left"
    return row.state


def _clock(t: datetime | None) -> str:
    return f"{t.astimezone(timezone.utc):%H:%M:%S}" if t else "-"


def render(view: NightView, now: datetime) -> RenderableType:
    """The live display: a headline (next event, countdown, step) over the events table."""
    table = Table(expand=False)
    for col in ("event", "record (UTC)", "state", "step / result"):
        table.add_column(col)
    for r in view.rows:
        result = (
            r.step if not r.is_final else " ".join(x for x in (r.outcome, r.reason, r.step) if x)
        )
        if r.flags:
            result += f"  [{r.flags} flag{'s' if r.flags > 1 else ''}]"
        table.add_row(
            r.name,
            f"{_clock(r.record_start)}–{_clock(r.record_end)}",
            Text(r.state, style=_STYLE.get(r.state, "")),
            result,
        )
    nxt = next_row(view)
    head = Text(f"{now.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC  ")
    if nxt is not None:
        head.append(f"next: {nxt.name} — {countdown(nxt, now)}", style="bold")
        if nxt.step:
            head.append(f" — {nxt.step}")
    else:
        head.append(view.note or "no events left", style="bold")
    if view.kstars_lost:
        head.append("  KStars left the bus: waiting for it to return", style="bold red")
    return Group(head, table)


def format_line(entry: Mapping[str, Any]) -> str:
    """One plain log line for an entry."""
    at = _time(entry.get("at"))
    stamp = f"{at:%Y-%m-%dT%H:%M:%S}Z" if at else "-"
    kind, name = entry.get("type"), entry.get("name", "")
    if kind == "transition":
        text = f"{name}: {entry.get('from')} -> {entry.get('to')}"
        if entry.get("reason"):
            text += f" ({entry['reason']}: {entry.get('detail', '')})"
        for flag in entry.get("flags") or ():
            text += f"; flag: {flag}"
    elif kind == "progress":
        text = f"{name}: Ekos job {entry.get('phase')} {entry.get('detail', '')}".rstrip()
    elif kind == "event":
        text = f"{name}: {entry.get('outcome')}"
        text += f" ({entry['reason']}: {entry.get('detail', '')})" if entry.get("reason") else ""
        text += f" file={entry['file']} frames={entry.get('frames')}" if entry.get("file") else ""
    elif kind == "clock":
        flag = entry.get("synchronised")
        sync = "sync unknown" if flag is None else "synchronised" if flag else "NOT synchronised"
        err = entry.get("max_error_s")
        text = f"{name}: clock {sync}" + (f", max error {err:.3g} s" if err is not None else "")
        for problem in entry.get("problems") or ():
            text += f"; flag: {problem}"
    elif kind == "night":
        text = f"night {entry.get('what')}"
        if entry.get("summary"):
            text += " " + ", ".join(f"{k} {v}" for k, v in entry["summary"].items())
    else:
        text = f"{kind}: {entry.get('what', '')}"
    return f"{stamp} {text}"


def format_json(entry: Mapping[str, Any]) -> str:
    """The entry as one JSON line, exactly as the journal stores it."""
    return to_json(entry)


class LineSink:
    """Writes one line per entry to ``stream`` (plain text, or JSON with ``json_lines``)."""

    def __init__(self, stream: IO[str], *, json_lines: bool = False) -> None:
        self.stream, self.json_lines = stream, json_lines

    def append(self, entry: Mapping[str, object]) -> None:
        line = format_json(entry) if self.json_lines else format_line(entry)
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class LiveView:
    """A rich ``Live`` table fed by entries; the countdown refreshes on its own.

    Args:
        console: where to draw (a terminal).
        now: the clock's ``now`` (the view never reads the system clock itself).
    """

    def __init__(self, console: Console, now: Callable[[], datetime]) -> None:
        self.view = NightView()
        self._now = now
        self._live = Live(
            console=console,
            refresh_per_second=4,
            get_renderable=lambda: render(self.view, self._now()),
        )

    def append(self, entry: Mapping[str, object]) -> None:
        if not self._live.is_started:
            self._live.start()
        self.view = apply(self.view, entry)
        self._live.refresh()

    def close(self) -> None:
        if self._live.is_started:
            self._live.stop()
