"""The report use case: a reduce result (or a night folder) -> filled reports on disk.

Typed (no argparse here): :func:`make_reports` takes a :class:`ReportRequest`, the settings and
the current time, and returns what it wrote and which events have no report and why. For a night
folder it reads the journal, reduces each recorded event's SER with the default options and
reports it; the folder's ``events.csv`` is the prediction when it is an occelmnt file. Every form
is read back through our own parser before anything is written; each report's files are written
together, atomically (:mod:`ekos_occult.files`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ekos_occult.app.recording import recording_provenance
from ekos_occult.ekosfiles.nightfolder import EVENTS_COPY, JOURNAL
from ekos_occult.errors import PredictionFormatError, RecordingError, ReductionError, ReportError
from ekos_occult.night.journal import finished_events, read_journal
from ekos_occult.plan.geometry import StationGeometry, station_geometry
from ekos_occult.plan.occelmnt import Prediction, is_occelmnt_text, read_occelmnt
from ekos_occult.reduce.reduction import ReduceOptions, Reduction, reduce_file, to_dict
from ekos_occult.report import DEFAULT_FORMATS, FORMATS
from ekos_occult.report.iotaes import check_iota_es, format_iota_es
from ekos_occult.report.occultxml import check_occult_xml, format_occult_xml
from ekos_occult.report.record import LightCurveData, Report, build_report
from ekos_occult.report.result import ReduceResult, parse_result, result_from_dict
from ekos_occult.report.text import format_text
from ekos_occult.settings import Settings

__all__ = [
    "FORMATS",
    "DEFAULT_FORMATS",
    "ReportRequest",
    "WrittenReport",
    "NoReport",
    "ReportOutcome",
    "make_reports",
    "report_files",
]

REPORTS = "reports"
"""The folder of a night folder that its reports go into (unless ``--out`` names another)."""
_SUFFIX = {"iota-es": ".iota-es.txt", "occult-xml": ".occult.xml", "text": ".report.txt"}
_MATCH_WINDOW = timedelta(hours=1)  # a prediction further than this from the recording is not it
_CA_WINDOW = timedelta(hours=4)  # without a site: from the geocentric closest approach


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


# --- predictions ----------------------------------------------------------------------------


def _read_predictions(path: Path) -> tuple[Prediction, ...]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportError(f"--prediction {path}: cannot read it ({exc.strerror}).") from exc
    return read_occelmnt(data, str(path)).predictions


def _match(
    preds: Sequence[Prediction], settings: Settings, when: datetime | None
) -> tuple[Prediction | None, StationGeometry | None, str]:
    """The prediction nearest the recording, its geometry at the station, or why none."""
    if not preds:
        return None, None, "no prediction given"
    site = settings.site
    geos: Sequence[StationGeometry | None]
    if site is not None:
        geos = station_geometry(preds, site)
        times = [g.central_time for g in geos if g is not None]
    else:
        geos = [None] * len(preds)
        times = [p.elements.closest_approach for p in preds]
    if when is None:
        if len(preds) == 1:
            return preds[0], geos[0], ""
        return None, None, "the recording's date is unknown and the file has several events"
    best = min(range(len(preds)), key=lambda i: abs(times[i] - when))
    window = _MATCH_WINDOW if site is not None else _CA_WINDOW
    if abs(times[best] - when) > window:
        return (
            None,
            None,
            (
                f"no event within {window} of the recording ({when:%Y-%m-%d %H:%M} UTC); "
                f"nearest: {preds[best].asteroid} at {times[best]:%Y-%m-%d %H:%M} UTC"
            ),
        )
    return preds[best], geos[best], ""


# --- the light curve ------------------------------------------------------------------------


def _lightcurve(red: Reduction) -> LightCurveData | None:
    times, cadence = red.times_s, red.exposure_s
    first = red.lightcurve.utc(float(times[0])) if times is not None and times.size else None
    if times is None or cadence is None or cadence <= 0 or first is None:
        return None
    slots = np.rint((times - times[0]) / cadence).astype(np.int64)
    if slots[-1] >= 10 * times.size or np.any(np.diff(slots) <= 0):
        values: list[float | None] = [float(v) for v in red.flux]
    else:
        values = [None] * (int(slots[-1]) + 1)
        for k, v in zip(slots, red.flux, strict=True):
            values[int(k)] = float(v)
    return LightCurveData(first, cadence, tuple(values))


def _source_path(res: ReduceResult, base: Path) -> Path:
    p = Path(res.file)
    return p if p.is_absolute() or p.exists() else base / p


def _rereduce(res: ReduceResult, base: Path) -> tuple[Reduction | None, str]:
    """The result's light curve again (for the plot and LightValues), if it reproduces D/R."""
    path = _source_path(res, base)
    if not path.is_file():
        return None, f"light curve not attached: {res.file} not found"
    csv = path.suffix.lower() != ".ser"
    opts = ReduceOptions(
        latency_s=res.latency_s,
        column=res.target or None if csv else None,
        ref_columns=res.references if csv else (),
    )
    try:
        red = reduce_file(path, opts)
    except ReductionError as exc:
        return None, f"light curve not attached: {exc}"
    again = result_from_dict(to_dict(red), str(path))
    if (again.event, again.d, again.r) != (res.event, res.d, res.r):
        return None, (
            f"light curve not attached: reducing {path} again with the default options does not "
            "give this result's D and R (other options were used); attach reduce's --plot"
        )
    return red, ""


# --- writing --------------------------------------------------------------------------------


def _stem(r: Report, label: str) -> str:
    day = f"{r.day:%Y%m%d}" if r.day else "undated"
    who = r.asteroid_name or r.asteroid_number or label
    observer = (r.station.observer or "station").split()[-1]
    raw = f"{day}_{who}_{observer}_{'POS' if r.outcome.value == 'positive' else 'NEG'}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("_")


def report_files(r: Report, formats: Sequence[str], stem: str) -> list[tuple[str, str]]:
    """``(file name, text)`` of each format, each checked by reading it back.

    Raises:
        ReportError: a form does not read back with the values written.
    """
    out = []
    for fmt in formats:
        name = stem + _SUFFIX[fmt]
        if fmt == "iota-es":
            text = format_iota_es(r)
            check_iota_es(r, text, name)
        elif fmt == "occult-xml":
            text = format_occult_xml(r)
            check_occult_xml(r, text, name)
        else:
            text = format_text(r)
        out.append((name, text))
    return out


def _write(
    out_dir: Path, stem: str, r: Report, formats: Sequence[str], red: Reduction | None
) -> tuple[Path, ...]:
    from ekos_occult.files import write_bytes_atomic, write_tree

    files = report_files(r, formats, stem)
    paths = list(write_tree(out_dir, [(PurePosixPath(n), t) for n, t in files]))
    if red is not None:
        from ekos_occult.views.reduceplot import reduction_png

        png = out_dir / f"{stem}.png"
        write_bytes_atomic(png, reduction_png(red), "--out")
        paths.append(png)
    return tuple(paths)


def _report_one(
    res: ReduceResult,
    red: Reduction | None,
    preds: Sequence[Prediction],
    settings: Settings,
    now: datetime,
    comments: Sequence[str] = (),
) -> tuple[Report, list[str]]:
    when = res.d or res.start
    pred, geo, why = _match(preds, settings, when)
    notes = [why] if why and preds else []
    lc = _lightcurve(red) if red is not None else None
    report = build_report(
        res,
        settings,
        made=now.date(),
        prediction=pred,
        geometry=geo,
        lightcurve=lc,
        comments=comments,
    )
    return report, notes


def _undated(res: ReduceResult) -> str:
    """Why a result cannot be reported: an event timed on a time of day with no date."""
    if res.event and (res.d is None or res.r is None):
        return (
            f"{res.origin}: D and R are times of day only (the recording's date is unknown); "
            "reduce it again with --date YYYY-MM-DD"
        )
    return ""


def _single(req: ReportRequest, settings: Settings, now: datetime) -> ReportOutcome:
    try:
        text = req.source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{req.source}: no such file (give a reduce --json result).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{req.source}: cannot read it ({exc}).") from exc
    res = parse_result(text, str(req.source))
    if _undated(res):
        raise ReportError(_undated(res) + ".")
    preds = _read_predictions(req.prediction) if req.prediction else ()
    red, why = _rereduce(res, req.source.parent)
    report, notes = _report_one(res, red, preds, settings, now)
    if req.prediction is not None and report.prediction is None:
        raise ReportError(f"--prediction {req.prediction}: {notes[0] if notes else 'no event'}.")
    out_dir = req.out_dir or req.source.parent
    stem = _stem(report, req.source.stem)
    files = _write(out_dir, stem, report, req.formats, red if req.plot else None)
    return ReportOutcome(
        (WrittenReport(stem, report, files, tuple(n for n in [why, *notes] if n)),)
    )


# --- a night folder -------------------------------------------------------------------------


def _night_predictions(req: ReportRequest, folder: Path) -> tuple[Prediction, ...]:
    if req.prediction is not None:
        return _read_predictions(req.prediction)
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
    if _undated(res):
        return None, None, _undated(res)
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
        report, notes = _report_one(res, red, preds, settings, now, _night_comments(entry))
        stem = _stem(report, label)
        while stem in stems:
            stem += "_2"
        stems.add(stem)
        files = _write(out_dir, stem, report, req.formats, red if req.plot else None)
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
