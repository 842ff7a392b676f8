"""Names from the events CSV made safe for Ekos job names and file names.

Ekos uses the scheduler job name as a folder name (``FITSDirectory/<Job Name>/Light/…``) and as
the key of "remember job progress", so a job name must be both path-safe and unique per event.
This module only sanitises text; XML escaping is the templates' business (autoescape).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

__all__ = [
    "MAX_NAME_BYTES",
    "sanitize_component",
    "is_safe_component",
    "unique_names",
    "job_names",
    "file_stem",
]

MAX_NAME_BYTES = 96
"""Longest sanitised name in UTF-8 bytes (file systems allow 255; Ekos appends suffixes)."""

# Characters that are unsafe in a path component on Linux (/), on shares mounted from Windows
# (\ : * ? " < > |) or that confuse shells and Ekos' own placeholders (%).
_UNSAFE = re.compile(r'[/\\:*?"<>|%]')
_SPACES = re.compile(r"\s+")
_STEM_UNSAFE = re.compile(r"[^\w\-.()+]")
_UNDERSCORES = re.compile(r"_{2,}")
_FALLBACK = "event"


def _is_control(ch: str) -> bool:
    # Cc: C0/C1 controls; Cf: format chars (bidi overrides, zero-width); Zl/Zp: line/para seps.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _truncate_utf8(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes].decode("utf-8", errors="ignore")


def sanitize_component(text: str, *, max_bytes: int = MAX_NAME_BYTES) -> str:
    """Turn any text into one safe path component (and Ekos job name).

    Unicode is kept (NFC-normalised); control and format characters are dropped; ``/``, ``\\``
    and the characters Windows shares reject become ``_``; runs of whitespace become one space;
    leading/trailing spaces and dots are stripped (so ``..`` and ``.hidden`` cannot survive);
    the result is cut to ``max_bytes`` UTF-8 bytes. An empty result becomes ``event``.

    Args:
        text: the raw name, e.g. a CSV cell.
        max_bytes: the longest result in UTF-8 bytes.

    Returns:
        A non-empty name that :func:`is_safe_component` accepts.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if ch in "\t\n\r\x0b\x0c" else ch for ch in text)
    text = "".join(ch for ch in text if not _is_control(ch))
    text = _UNSAFE.sub("_", text)
    text = _SPACES.sub(" ", text).strip(" .")
    text = _truncate_utf8(text, max_bytes).rstrip(" .")
    return text or _FALLBACK


def is_safe_component(text: str) -> bool:
    """True when ``text`` is already a safe, non-empty path component (see sanitize_component)."""
    return bool(text) and sanitize_component(text, max_bytes=max(len(text.encode()), 1)) == text


def _fold(name: str) -> str:
    return name.casefold()


def unique_names(names: Iterable[str], *, key: Callable[[str], str] = _fold) -> list[str]:
    """Make names unique under ``key`` (default: ignoring case, as SD cards and shares do).

    The first occurrence keeps its name; later ones get `` (2)``, `` (3)``… appended.

    Args:
        names: sanitised names, in a stable order.
        key: two names collide when their keys are equal.

    Returns:
        The names, each with a distinct key, same order and length.
    """
    seen: set[str] = set()
    result: list[str] = []
    for name in names:
        candidate, n = name, 1
        while key(candidate) in seen:
            n += 1
            candidate = f"{name} ({n})"
        seen.add(key(candidate))
        result.append(candidate)
    return result


def job_names(events: Sequence[tuple[str, datetime]]) -> list[str]:
    """Unique Ekos job names: sanitised event name + UTC date of the recording start.

    A name that is not unique on its own for that date also gets the UTC start time
    (``HHMMSS``); anything still colliding gets a counter (:func:`unique_names`).

    Args:
        events: ``(name, record_start)`` pairs, ``record_start`` timezone-aware UTC.

    Returns:
        One path-safe job name per event; names and their :func:`file_stem` are unique
        case-insensitively.
    """
    base = [f"{sanitize_component(name)} {start:%Y-%m-%d}" for name, start in events]
    keys = [_stem_key(b) for b in base]
    named = [
        f"{b} {start:%H%M%S}" if keys.count(_stem_key(b)) > 1 else b
        for b, (_, start) in zip(base, events, strict=True)
    ]
    return unique_names(named, key=_stem_key)


def _stem_key(name: str) -> str:
    return file_stem(name).casefold()


def file_stem(job_name: str) -> str:
    """File stem for a job's files: letters, digits and ``-_.()+`` only, others as ``_``.

    Stricter than job names (which keep ``&``, quotes and spaces) so that paths need no quoting
    in a shell and survive Qt's URL handling.
    """
    stem = _STEM_UNSAFE.sub("_", sanitize_component(job_name).replace("..", "_"))
    return _UNDERSCORES.sub("_", stem).strip("_.") or _FALLBACK
