"""The report record: one observation as the coordinators' forms need it, built from a reduce
result, the prediction and the station config. Pure (the date the report is made is an argument).

Values that cannot be known are ``None`` and named in :attr:`Report.to_fill`; the writers mark
them for the observer instead of inventing them. Accuracies: the 68 % half-width of the fit,
combined in quadrature with the timestamps' own 1-sigma uncertainty when reduce measured it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum

from ekos_occult.plan.geometry import StationGeometry
from ekos_occult.plan.occelmnt import Prediction
from ekos_occult.report.result import ReduceResult, TimestampInfo
from ekos_occult.settings import Settings

__all__ = ["Outcome", "Edge", "LightCurveData", "Station", "Equipment", "Report", "build_report"]


class Outcome(str, Enum):
    """What the station saw."""

    POSITIVE = "positive"  # D and R timed
    NEGATIVE = "negative"  # no occultation detected over the observed span (a miss)


@dataclass(frozen=True)
class Edge:
    """A timed D or R: UTC start-of-exposure convention, accuracy in seconds (68 %)."""

    time: datetime
    accuracy_s: float | None
    fit_err_s: float | None


@dataclass(frozen=True)
class LightCurveData:
    """The light curve to attach: first point's UTC, the interval, one value per exposure
    (``None`` for a dropped exposure)."""

    first: datetime
    cadence_s: float
    values: tuple[float | None, ...]

    @property
    def duration_s(self) -> float:
        """Time from the first to the last point."""
        return (len(self.values) - 1) * self.cadence_s


@dataclass(frozen=True)
class Station:
    """Where and who: observers, WGS84 position and how it was measured."""

    observer: str | None
    second_observer: str | None
    more_observers: bool
    email: str | None
    address: str | None
    nearest_town: str | None
    country: str | None
    lat_deg: float | None
    lon_deg: float | None
    elevation_m: float | None
    position_source: str | None


@dataclass(frozen=True)
class Equipment:
    """Telescope, camera, method (settings vocabulary) and the time source."""

    telescope_type: str | None
    aperture_cm: float | None
    focal_length_cm: float | None
    method: str
    camera: str | None
    time_source: str | None


@dataclass(frozen=True)
class Report:
    """One station's observation of one event.

    Attributes:
        outcome: positive or negative.
        no_dip, failed_test: why a negative is negative (no dip at all / a dip that noise
            explains: its false-event probability was above the threshold).
        day: UTC date of the observation (of D, else of the start of the recording).
        predicted: predicted central time at the station (UTC).
        star, asteroid_number, asteroid_name: identification (from the prediction).
        chord_offset_km, side: predicted distance from the centre line and its side.
        start, end: start of the first exposure and end of the last one (the observed span).
        d, r: the timed edges (positive only).
        duration_s: R - D.
        exposure_s: the exposure reduce's timing section names, else the frame interval.
        snr: event depth over the baseline noise.
        dropped_frames: frames missing from the recording.
        false_event_probability: of the dip found (1 when none).
        timestamps: how the frame times were made (None when reduce did not say).
        prediction: the occelmnt event (for the archive's star and asteroid details).
        lightcurve: the light curve to attach, when it could be read.
        comments: short remarks for the coordinator (all true, none invented).
        to_fill: what the observer must still give (names in words).
        made: the date the report was made (the archive's Added/LastEdited).
    """

    outcome: Outcome
    no_dip: bool
    failed_test: bool
    day: date | None
    predicted: datetime | None
    star: str | None
    asteroid_number: str | None
    asteroid_name: str | None
    chord_offset_km: float | None
    side: str | None
    station: Station
    equipment: Equipment
    start: datetime | None
    end: datetime | None
    d: Edge | None
    r: Edge | None
    duration_s: float | None
    exposure_s: float | None
    snr: float | None
    dropped_frames: int
    false_event_probability: float
    timestamps: TimestampInfo | None
    prediction: Prediction | None
    lightcurve: LightCurveData | None
    made: date
    comments: tuple[str, ...] = ()
    to_fill: tuple[str, ...] = field(default=())


def _or_none(text: str) -> str | None:
    return text.strip() or None


def _positive(v: float) -> float | None:
    return v if v > 0 else None


def _station(s: Settings) -> Station:
    o, site = s.observer, s.site
    return Station(
        observer=_or_none(o.name),
        second_observer=_or_none(o.second_observer),
        more_observers=o.more_observers,
        email=_or_none(o.email),
        address=_or_none(o.address),
        nearest_town=_or_none(o.nearest_town),
        country=_or_none(o.country.upper()),
        lat_deg=site.lat_deg if site else None,
        lon_deg=(site.lon_deg - 360.0 if site.lon_deg > 180.0 else site.lon_deg) if site else None,
        elevation_m=site.elevation_m if site else None,
        position_source=_or_none(s.station.position_source),
    )


def _equipment(s: Settings) -> Equipment:
    return Equipment(
        telescope_type=_or_none(s.telescope.type),
        aperture_cm=_positive(s.telescope.aperture_cm),
        focal_length_cm=_positive(s.telescope.focal_length_cm),
        method=s.camera.method,
        camera=_or_none(s.camera.name),
        time_source=_or_none(s.camera.time_source),
    )


def _accuracy(err: float | None, total: float | None, ts: TimestampInfo | None) -> float | None:
    """The whole 1-sigma of an edge: reduce's total when it gave one, else the fit's bar with
    every timing term that is known (the comments say which are not)."""
    if total is not None:
        return total
    if err is None or ts is None:
        return err
    if ts.uncertainty_s is not None:
        return math.hypot(err, ts.uncertainty_s)
    if ts.timestamp_s is not None:
        return math.hypot(err, ts.timestamp_s)
    return err


def _edges(res: ReduceResult) -> tuple[Edge | None, Edge | None]:
    if not res.event or res.d is None or res.r is None:
        return None, None
    ts = res.timestamps
    return (
        Edge(res.d, _accuracy(res.d_err_s, ts.d_total_s if ts else None, ts), res.d_err_s),
        Edge(res.r, _accuracy(res.r_err_s, ts.r_total_s if ts else None, ts), res.r_err_s),
    )


def _span(res: ReduceResult, lc: LightCurveData | None) -> tuple[datetime | None, datetime | None]:
    if res.start is not None and res.end is not None:
        return res.start, res.end
    if lc is not None:
        return lc.first, lc.first + timedelta(seconds=lc.duration_s + lc.cadence_s)
    return None, None


def _timing_comments(res: ReduceResult) -> list[str]:
    ts = res.timestamps
    if ts is None:
        return [
            f"Frame times: {res.timestamp_source or 'source not stated'}, "
            f"{res.timestamp_convention or 'convention not stated'}, latency correction "
            f"{res.latency_s:+.3f} s; their own uncertainty was not measured (not in the "
            "accuracies)"
        ]
    terms = [(k, v) for k, v in ts.budget if not k.startswith("fit_")]
    budget = ", ".join(f"{k.removesuffix('_s')} {v:.4f} s" for k, v in terms)
    corr = f"{ts.correction_s:+.4f} s" if ts.correction_s is not None else "none stated"
    if ts.why:
        corr += f" ({ts.why})"
    if ts.uncertainty_s is not None:
        unc = f"uncertainty {ts.uncertainty_s:.4f} s (1-sigma), included in the accuracies"
    elif ts.d_total_s is not None:
        unc = "the accuracies are reduce's whole bars (fit, stamps and clock)"
    elif ts.timestamp_s is not None:
        unc = (
            f"stamp uncertainty {ts.timestamp_s:.4f} s included in the accuracies; the clock's "
            "error is unknown and is not"
        )
    else:
        unc = "uncertainty unknown, not in the accuracies"
    return [
        f"Frame times: {ts.source}, {ts.convention}, correction {corr}, {unc}"
        + (f" [{budget}]" if budget else "")
    ]


def _result_comments(res: ReduceResult) -> list[str]:
    p = res.false_event_probability
    if res.event:
        sigma = f", {res.false_event_sigma:g} sigma" if res.false_event_sigma else ""
        out = [f"False-event test passed (probability {p:.2g}{sigma})"]
    elif res.no_dip:
        out = ["No event: no dip at all in the light curve"]
    else:
        out = [
            "No event detected: the deepest dip found failed the false-event test (noise "
            f"alone makes it with probability {p:.2g}); reported as a non-detection"
        ]
    if res.dropped_frames:
        out.append(f"{res.dropped_frames} dropped frames (kept as gaps)")
    return out


def _prediction_fields(
    p: Prediction | None, g: StationGeometry | None
) -> tuple[str | None, str | None, str | None, datetime | None, float | None, str | None]:
    if p is None:
        return None, None, None, None, None, None
    number = p.object.number.strip() or None
    name = p.object.name.strip() or None
    if g is None:
        return p.star.star_id, number, name, None, None, None
    return p.star.star_id, number, name, g.central_time, g.offset_km, g.side


def _to_fill(r: Report) -> tuple[str, ...]:
    st, eq = r.station, r.equipment
    checks: Sequence[tuple[str, object]] = (
        ("star", r.star),
        ("asteroid", r.asteroid_name or r.asteroid_number),
        ("predicted central time", r.predicted),
        ("observer name", st.observer),
        ("e-mail", st.email),
        ("nearest town", st.nearest_town),
        ("country code", st.country),
        ("latitude/longitude/altitude", st.lat_deg),
        ("telescope type", eq.telescope_type),
        ("aperture", eq.aperture_cm),
        ("focal length", eq.focal_length_cm),
        ("camera", eq.camera),
        ("time source", eq.time_source),
        ("start and end of observation", r.start),
        ("exposure time", r.exposure_s),
    )
    missing = [name for name, value in checks if value is None]
    return (*missing, "weather (wind, temperature)", "transparency", "stability")


def build_report(
    res: ReduceResult,
    settings: Settings,
    *,
    made: date,
    prediction: Prediction | None = None,
    geometry: StationGeometry | None = None,
    lightcurve: LightCurveData | None = None,
    comments: Sequence[str] = (),
) -> Report:
    """Fill a report from a reduce result, the prediction at the station and the config.

    Args:
        res: the reduce result.
        settings: observer, station, telescope and camera (``[observer]`` ... ``[camera]``).
        made: today's UTC date (the archive records when the report was made).
        prediction: the occelmnt event, when known.
        geometry: that event at the station (central time, chord offset), when known.
        lightcurve: the reduced light curve to attach, when it could be read.
        comments: more remarks to pass on (e.g. the night's flags on the recording).
    """
    start, end = _span(res, lightcurve)
    d, r = _edges(res)
    first = d.time if d else start
    day = first.date() if first else None
    star, number, name, predicted, offset, side = _prediction_fields(prediction, geometry)
    comments = _result_comments(res) + _timing_comments(res) + list(comments)
    if settings.station.position_source:
        comments.append(f"Station position (WGS84) from {settings.station.position_source}")
    if offset is not None:
        comments.append(f"Predicted chord offset {abs(offset):.1f} km {side} of the centre line")
    report = Report(
        outcome=Outcome.POSITIVE if res.event else Outcome.NEGATIVE,
        no_dip=res.no_dip,
        failed_test=not res.event and not res.no_dip,
        day=day,
        predicted=predicted,
        star=star,
        asteroid_number=number,
        asteroid_name=name,
        chord_offset_km=offset,
        side=side,
        station=_station(settings),
        equipment=_equipment(settings),
        start=start,
        end=end,
        d=d,
        r=r,
        duration_s=(res.duration_s if res.event else None),
        exposure_s=(
            res.timestamps.exposure_s
            if res.timestamps and res.timestamps.exposure_s
            else res.cadence_s
        ),
        snr=res.snr if res.event else None,
        dropped_frames=res.dropped_frames,
        false_event_probability=res.false_event_probability,
        timestamps=res.timestamps,
        prediction=prediction,
        lightcurve=lightcurve,
        made=made,
        comments=tuple(comments),
    )
    return _with_to_fill(report)


def _with_to_fill(r: Report) -> Report:
    from dataclasses import replace

    return replace(r, to_fill=_to_fill(r))
