"""The single exception hierarchy of ekos-occult.

Every error carries a message written for the user: what went wrong, where, and what to try.
Only :mod:`ekos_occult.cli` catches the root, :class:`OccultError`; input errors exit 2,
run errors 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "OccultError",
    "InputError",
    "CsvFormatError",
    "CsvProblem",
    "ConfigError",
    "RenderError",
    "OutputError",
    "PredictionFormatError",
    "RunError",
    "EkosError",
    "EkosUnavailable",
    "EkosCommandFailed",
    "EkosTimeout",
    "EkosIncompatible",
    "RecordingError",
    "DeviceLost",
    "SandboxError",
    "ReductionError",
    "ReportError",
]


class OccultError(Exception):
    """Root of all ekos-occult errors. ``exit_code`` is what the command line returns."""

    exit_code = 1


class InputError(OccultError):
    """The user's input (a file, a flag, the config) is wrong. Exit status 2."""

    exit_code = 2


@dataclass(frozen=True)
class CsvProblem:
    """One problem in one cell of an events CSV.

    Attributes:
        path: the file as the user named it.
        line: 1-based physical line number in the file (the header is line 1).
        column: the column name, or ``None`` for a problem with the whole line or file.
        message: what is wrong and what was expected.
    """

    path: str
    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if self.column is None:
            return f"{where}: {self.message}"
        column = self.column
        if not column.isprintable():  # a header cell with a line break or a control character
            column = repr(column)[1:-1]
        return f"{where}: column '{column}': {self.message}"


class CsvFormatError(InputError):
    """One or more problems in an events CSV, all reported at once."""

    def __init__(self, problems: Sequence[CsvProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ConfigError(InputError):
    """The configuration file or a command-line value is invalid."""


class RenderError(InputError):
    """A template could not be rendered, or what it produced does not match the plan."""


class OutputError(InputError):
    """An output file or folder (e.g. ``--out DIR``) cannot be written; nothing was changed."""


class PredictionFormatError(InputError):
    """An occelmnt prediction file is malformed."""


class ReductionError(InputError):
    """A recording or light curve cannot be reduced (bad file, no star found, ...)."""


class ReportError(InputError):
    """A reduce result cannot be reported (not a reduce JSON, a field missing or wrong), or a
    report does not read back as written."""


class RunError(OccultError):
    """Something failed while acting on the rig. Exit status 1."""

    exit_code = 1


class EkosError(RunError):
    """Talking to KStars/Ekos failed."""


class EkosUnavailable(EkosError):
    """KStars/Ekos (or one of its D-Bus objects) is not on the bus."""


class EkosCommandFailed(EkosError):
    """Ekos answered, but refused or failed the request."""


class EkosIncompatible(EkosError):
    """KStars is there but its D-Bus interface differs from the one called (a signature
    mismatch, ``UnknownMethod`` on an object that exists): another KStars version."""


class EkosTimeout(EkosError):
    """Ekos did not answer within the time allowed."""


class RecordingError(RunError):
    """A video recording could not be made or its file is not valid."""


class DeviceLost(RecordingError):
    """The camera (its INDI device) disconnected or vanished while it was needed."""


class SandboxError(RunError):
    """The headless KStars sandbox could not be started, inspected or stopped."""
