"""The scheduler options that loading our .esl files rewrites in KStars, kept and put back.

Loading a schedule sets KStars' global scheduler options to the file's (the reference,
``shared/reference/kstars-3.8-interfaces.md``): the error-handling strategy everywhere; the
park/unpark/warm-CCD procedure options on 3.6 and 3.7.x (the file's procedure elements clear
them); on 3.8 the user's startup and shutdown task queues are turned off. KStars keeps them for
later sessions. Neither 3.6 nor 3.8 publishes these options over D-Bus (no property, no
getter), so the user's values can only be read from the kstarsrc (``[Scheduler]`` group)
before the night.

At the end of the night they are put back twice: in KStars' memory, by loading a schedule
without jobs that carries the user's values (:func:`restore_context` feeds its template), and
in the kstarsrc, where only the keys that KStars wrote during the night (a value that differs
from the one read before) are set back, atomically, everything else untouched
(:func:`write_back`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.files import write_atomic

__all__ = [
    "GROUP",
    "SavedOptions",
    "keys_changed_by_loading",
    "read_group",
    "with_group_values",
    "save_options",
    "write_back",
    "restore_context",
]

GROUP = "Scheduler"
_ERRORS = ("ErrorHandlingStrategy", "ErrorHandlingStrategyDelay", "RescheduleErrors")
# (kstarsrc key, the 3.6/3.7.x <Procedure> name that sets it), startup then shutdown.
_STARTUP = (
    ("SchedulerUnparkDome", "UnparkDome"),
    ("SchedulerUnparkMount", "UnparkMount"),
    ("SchedulerOpenDustCover", "UnparkCap"),
)
_SHUTDOWN = (
    ("SchedulerWarmCCD", "WarmCCD"),
    ("SchedulerCloseDustCover", "ParkCap"),
    ("SchedulerParkMount", "ParkMount"),
    ("SchedulerParkDome", "ParkDome"),
)
_QUEUES = ("SchedulerStartupEnabled", "SchedulerShutdownEnabled")  # 3.8
DEFAULTS: dict[str, str] = {
    "ErrorHandlingStrategy": "1",
    "ErrorHandlingStrategyDelay": "0",
    "RescheduleErrors": "false",
    "SchedulerStartupEnabled": "true",
    "SchedulerShutdownEnabled": "true",
    **{key: "false" for key, _ in (*_STARTUP, *_SHUTDOWN)},
}
"""KStars' defaults (kcfg) of the keys, for a key the kstarsrc does not hold."""


def keys_changed_by_loading(file_format: str, version: str | None) -> tuple[str, ...]:
    """The ``[Scheduler]`` keys that loading our .esl of ``file_format`` rewrites.

    Args:
        file_format: "3.6" or "3.7" (the 3.7-and-newer format).
        version: KStars' version when known ("3.8.1", ">=3.7.3"...); 3.8 and newer turn the
            task queues off, older ones clear the procedure options.
    """
    procedures = tuple(key for key, _ in (*_STARTUP, *_SHUTDOWN))
    if file_format == "3.6":
        return (*_ERRORS, *procedures)
    match = re.search(r"(\d+)\.(\d+)", version or "")
    if match and (int(match.group(1)), int(match.group(2))) >= (3, 8):
        return (*_ERRORS, *_QUEUES)
    return (*_ERRORS, *procedures, *_QUEUES)  # 3.7.x, or a 3.7+ of unknown minor: both


def read_group(text: str, keys: tuple[str, ...], group: str = GROUP) -> dict[str, str | None]:
    """The values of ``keys`` in a KConfig file's ``[group]`` (None: not there)."""
    found: dict[str, str | None] = dict.fromkeys(keys)
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
        elif current == group and "=" in stripped and not stripped.startswith("#"):
            key, value = stripped.split("=", 1)
            if key.strip() in found:
                found[key.strip()] = value.strip()
    return found


def with_group_values(text: str, values: Mapping[str, str | None], group: str = GROUP) -> str:
    """``text`` with ``values`` set in ``[group]`` (None removes the key); every other line
    kept as it was. A missing group is added at the end."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    pending = {k: v for k, v in values.items()}
    current, group_end = None, None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            if current == group:
                group_end = len(out)
            current = stripped[1:-1]
        elif current == group and "=" in stripped:
            key = stripped.split("=", 1)[0].strip()
            if key in pending:
                value = pending.pop(key)
                if value is not None:
                    out.append(f"{key}={value}\n")
                continue
        out.append(line)
    if current == group and group_end is None:
        group_end = len(out)
    added = [f"{k}={v}\n" for k, v in pending.items() if v is not None]
    if not added:
        return "".join(out)
    if group_end is None:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        return "".join([*out, *(["\n"] if out else []), f"[{group}]\n", *added])
    while group_end > 0 and not out[group_end - 1].strip():
        group_end -= 1  # before the blank line that ends the group
    return "".join([*out[:group_end], *added, *out[group_end:]])


@dataclass(frozen=True)
class SavedOptions:
    """The user's values of the keys our schedules rewrite, read before the night.

    Attributes:
        path: the kstarsrc they were read from.
        values: key -> value as the file held it (None: not there, KStars' default applies).
        file_format, version: the KStars they belong to.
    """

    path: Path
    values: dict[str, str | None]
    file_format: str
    version: str | None

    def value(self, key: str) -> str:
        """The user's effective value (the file's, else KStars' default)."""
        held = self.values.get(key)
        return held if held is not None else DEFAULTS.get(key, "")


def save_options(path: Path, file_format: str, version: str | None) -> SavedOptions:
    """Read the user's values before the night.

    Raises:
        OSError: the kstarsrc cannot be read (a missing file: every key at its default).
    """
    keys = keys_changed_by_loading(file_format, version)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    return SavedOptions(path, read_group(text, keys), file_format, version)


def write_back(saved: SavedOptions) -> list[str]:
    """Put back, in the kstarsrc, the keys whose value changed since :func:`save_options`
    (KStars wrote ours during the night); atomically, every other line untouched.

    Returns:
        The keys written back ("KEY=value", or "KEY removed"); empty when nothing changed.

    Raises:
        OSError: the file cannot be read or replaced.
    """
    try:
        text = saved.path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    now = read_group(text, tuple(saved.values))
    changed = {k: v for k, v in saved.values.items() if now.get(k) != v}
    if not changed:
        return []
    write_atomic(saved.path, with_group_values(text, changed))
    return [f"{k}={v}" if v is not None else f"{k} removed" for k, v in changed.items()]


def restore_context(saved: SavedOptions) -> dict[str, object]:
    """The template context of the restoring schedule (no jobs, the user's options)."""

    def on(key: str) -> bool:
        return saved.value(key).strip().lower() == "true"

    def whole(key: str) -> int:
        try:
            return int(float(saved.value(key)))
        except ValueError:
            return int(DEFAULTS[key])

    return {
        "strategy": whole("ErrorHandlingStrategy"),
        "delay": whole("ErrorHandlingStrategyDelay"),
        "reschedule": on("RescheduleErrors"),
        "startup_enabled": "true" if on("SchedulerStartupEnabled") else "false",
        "shutdown_enabled": "true" if on("SchedulerShutdownEnabled") else "false",
        "startup": [name for key, name in _STARTUP if on(key)],
        "shutdown": [name for key, name in _SHUTDOWN if on(key)],
    }
