"""The records of a rendered night: each file's path and text, and the night they make up.

Produced by :mod:`ekos_occult.ekosfiles.render`, checked by
:mod:`ekos_occult.ekosfiles.render_check`, written by :func:`ekos_occult.files.write_night`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.ekosfiles.jobs import JobSpec
from ekos_occult.model import Plan

__all__ = ["RenderedFile", "RenderedNight"]


@dataclass(frozen=True)
class RenderedFile:
    """A rendered file: its path relative to the night folder, and its text (UTF-8)."""

    relpath: PurePosixPath
    text: str


@dataclass(frozen=True)
class RenderedNight:
    """Everything ``render`` produces for a night (or for one job), already checked.

    Attributes:
        version: the Ekos file format.
        night: the night's label (``YYYY-MM-DD`` of the evening, local mean solar time).
        night_dir: absolute folder the files belong in (the .esl names .esq files inside it).
        tz_label: the time zone StartAt times were written in.
        schedule: the .esl file.
        sequences: one .esq per job.
        jobs: the jobs, in start order.
        plan: the plan with Ekos spacing notes added to the events they concern.
    """

    version: KStarsFormat
    night: str
    night_dir: PurePath
    tz_label: str
    schedule: RenderedFile
    sequences: tuple[RenderedFile, ...]
    jobs: tuple[JobSpec, ...]
    plan: Plan

    @property
    def files(self) -> tuple[RenderedFile, ...]:
        """All files, sequences first so that the schedule is written last."""
        return (*self.sequences, self.schedule)
