"""One report from one reduce result: the prediction it belongs to, the light curve to attach,
the forms filled, each read back, and written together.

Used by :mod:`ekos_occult.app.report` for a single ``reduce --json`` result and for each event
of a night folder. Times are UTC; a prediction matches a recording when its central time at the
station is within an hour of the recording's D (or its start), or, without a site, when the
geocentric closest approach is within four hours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

import numpy as np

from ekos_occult.errors import ReductionError, ReportError
from ekos_occult.plan.geometry import StationGeometry, station_geometry
from ekos_occult.plan.occelmnt import Prediction, read_occelmnt
from ekos_occult.reduce.reduction import ReduceOptions, Reduction, reduce_file, to_dict
from ekos_occult.report.iotaes import check_iota_es, format_iota_es
from ekos_occult.report.occultxml import check_occult_xml, format_occult_xml
from ekos_occult.report.record import LightCurveData, Report, build_report
from ekos_occult.report.result import ReduceResult, result_from_dict
from ekos_occult.report.text import format_text
from ekos_occult.settings import Settings

__all__ = [
    "read_predictions",
    "rereduce",
    "report_one",
    "report_stem",
    "report_files",
    "write_report",
    "undated",
]

_SUFFIX = {"iota-es": ".iota-es.txt", "occult-xml": ".occult.xml", "text": ".report.txt"}
_MATCH_WINDOW = timedelta(hours=1)  # a prediction further than this from the recording is not it
_CA_WINDOW = timedelta(hours=4)  # without a site: from the geocentric closest approach


# --- predictions ----------------------------------------------------------------------------


def read_predictions(path: Path) -> tuple[Prediction, ...]:
    """The occelmnt predictions of ``--prediction PATH``.

    Raises:
        ReportError: the file cannot be read. PredictionFormatError: it is not occelmnt.
    """
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


def rereduce(res: ReduceResult, base: Path) -> tuple[Reduction | None, str]:
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


def report_stem(r: Report, label: str) -> str:
    """``YYYYMMDD_<asteroid>_<observer>_POS|NEG``, path-safe (``label`` when no asteroid)."""
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


def write_report(
    out_dir: Path, stem: str, r: Report, formats: Sequence[str], red: Reduction | None
) -> tuple[Path, ...]:
    """Write each form (checked) together into ``out_dir``, and the light-curve PNG of ``red``
    when given; the paths written.

    Raises:
        ReportError: a form does not read back. OutputError: nothing could be written.
    """
    from ekos_occult.files import write_bytes_atomic, write_tree

    files = report_files(r, formats, stem)
    paths = list(write_tree(out_dir, [(PurePosixPath(n), t) for n, t in files]))
    if red is not None:
        from ekos_occult.views.reduceplot import reduction_png

        png = out_dir / f"{stem}.png"
        write_bytes_atomic(png, reduction_png(red), "--out")
        paths.append(png)
    return tuple(paths)


def report_one(
    res: ReduceResult,
    red: Reduction | None,
    preds: Sequence[Prediction],
    settings: Settings,
    now: datetime,
    comments: Sequence[str] = (),
) -> tuple[Report, list[str]]:
    """The report of ``res`` (matched to the nearest of ``preds``, with ``red``'s light curve
    when given) and notes for the user (why no prediction matched)."""
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


def undated(res: ReduceResult) -> str:
    """Why a result cannot be reported: an event timed on a time of day with no date."""
    if res.event and (res.d is None or res.r is None):
        return (
            f"{res.origin}: D and R are times of day only (the recording's date is unknown); "
            "reduce it again with --date YYYY-MM-DD"
        )
    return ""
