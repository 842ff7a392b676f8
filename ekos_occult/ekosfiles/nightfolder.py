"""Where a night's files go (render, load and run share it).

Layout of a night folder: ``<night>.esl``, ``sequences/``, ``jobs/`` (run's single-job files),
``recordings/``, ``journal.jsonl`` and ``events.csv``, the events the night was planned from, so
that ``ekos-occult run FOLDER`` can carry on a night written by ``render``, ``load`` or ``run``
(:mod:`ekos_occult.app.events` reads and keeps it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ekos_occult.settings import Settings

__all__ = [
    "EVENTS_COPY",
    "JOURNAL",
    "RECORDINGS",
    "JOBS",
    "SEQUENCES",
    "CAPTURES",
    "default_nights_dir",
    "night_dir",
]

EVENTS_COPY = "events.csv"
"""The copy of the events file kept in the night folder (``run FOLDER`` reads it)."""
JOURNAL = "journal.jsonl"
"""``run``'s journal: one JSON line per step and per finished event."""
RECORDINGS = "recordings"
"""The folder INDI records each event's SER file into."""
JOBS = "jobs"
"""``run``'s single-job ``.esl`` files, one per event."""
SEQUENCES = "sequences"
"""The capture sequences (``.esq``), one per job."""
CAPTURES = "captures"
"""Where Ekos saves the jobs' control frames (unless ``[ekos] capture_dir`` says otherwise)."""


def default_nights_dir() -> Path:
    """``<user data dir>/ekos-occult/nights`` (e.g. ``~/.local/share/ekos-occult/nights``)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("ekos-occult")) / "nights"


def night_dir(
    out_dir: Path | None, settings: Settings, night: str, folder: Path | None = None
) -> Path:
    """The night folder: ``out_dir`` (``--out``) itself, else a given night ``folder``, else
    ``<[paths] out_dir or the user data dir>/<night>``. Always absolute."""
    if out_dir is not None:
        return out_dir.expanduser().absolute()
    if folder is not None:
        return folder.absolute()
    base = settings.out_dir if settings.out_dir is not None else default_nights_dir()
    return (base / night).absolute()
