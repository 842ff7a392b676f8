"""UTC instants as text: the one ISO 8601 parser and the one formatter of ekos-occult.

Every timestamp that enters as text (events CSV, flags, journals, reduce results, KStars) is read
by :func:`parse_utc`; journals and state files write :func:`format_utc`. Pure, no clock.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["parse_utc", "format_utc"]


def parse_utc(text: str) -> datetime:
    """ISO 8601 date and time → an aware UTC datetime.

    A trailing ``Z``/``z`` and a time without an offset are UTC; an offset is converted to UTC.

    Raises:
        ValueError: not an ISO 8601 date and time (or out of ``datetime``'s range); callers
            turn it into a message naming their file, line and field, or flag.
    """
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(text)
        return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)
    except OverflowError as exc:
        raise ValueError(f"{text!r} is out of range") from exc


def format_utc(t: datetime) -> str:
    """``2026-11-21T21:24:46.123456Z``: microseconds, ``Z`` for UTC (a naive time is UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
