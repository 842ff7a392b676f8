"""Where a night's files go, and the copy of its events kept there (render, load and run share it).

Layout of a night folder: ``<night>.esl``, ``sequences/``, ``jobs/`` (run's single-job files),
``recordings/``, ``journal.jsonl`` and ``events.csv``, the events the night was planned from, so
that ``ekos-occult run FOLDER`` can carry on a night written by ``render``, ``load`` or ``run``.
"""

from __future__ import annotations

import argparse
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ekos_occult.errors import InputError

if TYPE_CHECKING:
    from ekos_occult.settings import Settings

__all__ = ["EVENTS_COPY", "default_nights_dir", "night_dir", "keep_events", "events_copy"]

EVENTS_COPY = "events.csv"
"""The copy of the events file kept in the night folder (``run FOLDER`` reads it)."""


def default_nights_dir() -> Path:
    """``<user data dir>/ekos-occult/nights`` (e.g. ``~/.local/share/ekos-occult/nights``)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ekos-occult")) / "nights"


def night_dir(
    args: argparse.Namespace, settings: Settings, night: str, folder: Path | None = None
) -> Path:
    """The night folder: ``--out`` itself, else a given night ``folder``, else
    ``<[paths] out_dir or the user data dir>/<night>``. Always absolute."""
    if getattr(args, "out_dir", None) is not None:
        return Path(args.out_dir).expanduser().absolute()
    if folder is not None:
        return folder.absolute()
    base = settings.out_dir if settings.out_dir is not None else default_nights_dir()
    return (base / night).absolute()


def events_copy(source: str | Path) -> list[tuple[PurePosixPath, str]]:
    """The ``events.csv`` file for a night folder written whole (render, load), as
    ``[(relative path, text)]``; empty for events read from stdin (``-``).

    A folder of occelmnt predictions is kept as one merged document.

    Raises:
        InputError: the events cannot be read.
    """
    if str(source) == "-":
        return []
    path = Path(source).expanduser()
    if path.is_dir():
        from ekos_occult.cli.predictions import merged_occelmnt_text

        return [(PurePosixPath(EVENTS_COPY), merged_occelmnt_text(str(path)))]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the events file {path}: {exc}.") from exc
    return [(PurePosixPath(EVENTS_COPY), text)]


def keep_events(source: Path, night: Path) -> Path:
    """Copy the events the night was planned from into ``night/events.csv`` (atomically).

    A folder of occelmnt predictions is kept as one merged document (the planner reads either
    form by its content). Reading a night folder's own copy leaves it as it is.

    Raises:
        InputError: the events cannot be read.
        OutputError: the copy cannot be written.
    """
    from ekos_occult.files import write_atomic

    target = night / EVENTS_COPY
    if target.exists() and target.resolve() == source.resolve():
        return target
    if source.is_dir():
        from ekos_occult.cli.predictions import merged_occelmnt_text

        write_atomic(target, merged_occelmnt_text(str(source)))
        return target
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the events file {source}: {exc}.") from exc
    write_atomic(target, text)
    return target
