"""The report use case: a reduce result (or a night folder) -> filled reports on disk.

Typed (no argparse here): :func:`make_reports` takes a :class:`ReportRequest`, the settings and
the current time, and returns what it wrote and which events have no report and why. For a night
folder it reads the journal, reduces each recorded event's SER with the default options and
reports it; the folder's ``events.csv`` is the prediction when it is an occelmnt file. Every form
is read back through our own parser before anything is written; each report's files are written
together, atomically (:mod:`ekos_occult.files`); filling one report from one result is
:mod:`ekos_occult.app.reportfill`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ekos_occult.app.recording import recording_provenance
from ekos_occult.app.reportfill import (
    read_predictions,
    report_one,
    report_stem,
    rereduce,
    undated,
    write_report,
)
from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY, JOURNAL
from ekos_occult.errors import PredictionFormatError, RecordingError, ReductionError, ReportError
from ekos_occult.night.journal import finished_events, read_journal
from ekos_occult.plan.occelmnt import Prediction, is_occelmnt_text, read_occelmnt
from ekos_occult.reduce.reduction import ReduceOptions, Reduction, reduce_file, to_dict
from ekos_occult.report import DEFAULT_FORMATS, FORMATS
from ekos_occult.report.record import Report
from ekos_occult.report.result import ReduceResult, parse_result, result_from_dict
from ekos_occult.settings import Settings

__all__ = [
    "FORMATS",
    "DEFAULT_FORMATS",
    "ReportRequest",
    "WrittenReport",
    "NoReport",
    "ReportOutcome",
    "make_reports",
]

REPORTS = "reports"
"""The folder of a night folder that its reports go into (unless ``--out`` names another)."""


@dataclass(frozen=True)
class ReportRequest:
    """What to report.

    Attributes:
        source: a ``reduce --json`` file, or a night folder (with ``journal.jsonl``).
        formats: a subset of :data:`FORMATS`.
        prediction: an occelmnt file (default for a night folder: its ``events.csv`` when that
            is occelmnt).
        out_dir: where the reports go (default: next to the result; ``<night>/reports``).
        plot: also write the light-curve PNG.
    """

    source: Path
    formats: tuple[str, ...] = DEFAULT_FORMATS
    prediction: Path | None = None
    out_dir: Path | None = None
    plot: bool = True


@dataclass(frozen=True)
class WrittenReport:
    """One report: its event, the record and the files written."""

    label: str
    report: Report
    files: tuple[Path, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoReport:
    """An event of the night with no report, and why."""

    label: str
    reason: str


@dataclass(frozen=True)
class ReportOutcome:
    written: tuple[WrittenReport, ...]
    missing: tuple[NoReport, ...] = ()


def _single(req: ReportRequest, settings: Settings, now: datetime) -> ReportOutcome:
    try:
        text = req.source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{req.source}: no such file (give a reduce --json result).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{req.source}: cannot read it ({exc}).") from exc
    res = parse_result(text, str(req.source))
    if undated(res):
        raise ReportError(undated(res) + ".")
    preds = read_predictions(req.prediction) if req.prediction else ()
    red, why = rereduce(res, req.source.parent)
    report, notes = report_one(res, red, preds, settings, now)
    if req.prediction is not None and report.prediction is None:
        raise ReportError(f"--prediction {req.prediction}: {notes[0] if notes else 'no event'}.")
    out_dir = req.out_dir or req.source.parent
    stem = report_stem(report, req.source.stem)
    files = write_report(out_dir, stem, report, req.formats, red if req.plot else None)
    return ReportOutcome(
        (WrittenReport(stem, report, files, tuple(n for n in [why, *notes] if n)),)
    )


# --- a night folder -------------------------------------------------------------------------


def _night_predictions(req: ReportRequest, folder: Path) -> tuple[Prediction, ...]:
    if req.prediction is not None:
        return read_predictions(req.prediction)
    events = folder / EVENTS_COPY
    try:
        text = events.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    if not is_occelmnt_text(text[:2000]):
        return ()
    try:
        return read_occelmnt(text, str(events)).predictions
    except PredictionFormatError:
        return ()


def _event_lines(folder: Path) -> list[dict[str, Any]]:

    path = folder / JOURNAL
    if not path.is_file():
        raise ReportError(
            f"{folder}: no {JOURNAL}: not a night folder (or nothing was run in it yet); "
            "give a reduce --json result or the folder `ekos-occult run` wrote."
        )
    try:
        entries = read_journal(path)
    except RecordingError as exc:
        raise ReportError(str(exc)) from exc
    return sorted(finished_events(entries).values(), key=lambda e: str(e.get("record_start")))


def _night_event(
    entry: dict[str, Any], folder: Path, settings: Settings
) -> tuple[ReduceResult | None, Reduction | None, str]:
    """Reduce one journal event's recording as ``reduce`` would (the journal's provenance, the
    config's camera delays), or say why it has no report."""
    outcome, reason = entry.get("outcome"), entry.get("reason") or ""
    if outcome != "recorded":
        detail = entry.get("detail") or ""
        why = f"{outcome}" + (f" ({reason})" if reason else "") + (f": {detail}" if detail else "")
        return None, None, f"not recorded: {why}"
    raw = entry.get("file")
    if not raw:
        return None, None, "recorded, but the journal names no file"
    path = Path(str(raw))
    path = path if path.is_absolute() else folder / path
    if not path.is_file():
        return None, None, f"the recording {path} is missing"
    try:
        opts = ReduceOptions(
            provenance=recording_provenance(path, folder / JOURNAL), camera=settings.camera
        )
        red = reduce_file(path, opts)
    except ReductionError as exc:
        return None, None, f"the recording could not be reduced: {exc}"
    res = result_from_dict(to_dict(red), str(path))
    if undated(res):
        return None, None, undated(res)
    return res, red, ""


def _night_comments(entry: dict[str, Any]) -> list[str]:
    """What the night itself noted about the recording (flags such as a failed plate solve)."""
    flags = [str(f) for f in entry.get("flags") or [] if str(f).strip()]
    return [f"Night: {'; '.join(flags)}"] if flags else []


def _night(req: ReportRequest, settings: Settings, now: datetime) -> ReportOutcome:
    folder = req.source
    lines = _event_lines(folder)
    preds = _night_predictions(req, folder)
    out_dir = req.out_dir or folder / REPORTS
    written, missing, stems = [], [], set()
    for entry in lines:
        label = str(entry.get("name", "?"))
        res, red, why = _night_event(entry, folder, settings)
        if res is None:
            missing.append(NoReport(label, why))
            continue
        report, notes = report_one(res, red, preds, settings, now, _night_comments(entry))
        stem = report_stem(report, label)
        while stem in stems:
            stem += "_2"
        stems.add(stem)
        files = write_report(out_dir, stem, report, req.formats, red if req.plot else None)
        written.append(WrittenReport(label, report, files, tuple(notes)))
    if not lines:
        raise ReportError(f"{folder}: the journal has no finished event: nothing to report.")
    return ReportOutcome(tuple(written), tuple(missing))


def make_reports(req: ReportRequest, settings: Settings, now: datetime) -> ReportOutcome:
    """Fill, check and write the reports asked for.

    Args:
        req: the result or night folder, formats and options.
        settings: observer, station, telescope and camera.
        now: the current UTC time (the archive's "added" date).

    Raises:
        ReportError: unreadable or wrong result/journal, a prediction that does not match.
        PredictionFormatError: a malformed occelmnt file.
        OutputError: the reports cannot be written (nothing half-written).
    """
    unknown = [f for f in req.formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"--format {unknown[0]}: choose from {', '.join(FORMATS)}.")
    if req.source.is_dir():
        return _night(req, settings, now)
    return _single(req, settings, now)
