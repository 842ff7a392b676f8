"""Occelmnt predictions → the planner's events: window, exposure, expected drop, path filters.

For each prediction the station geometry (:mod:`ekos_occult.plan.geometry`) gives the local central
time ``T``, the station's centre-line duration ``d`` and the shadow speed ``v`` relative to the
station. The recording window is ``T ± (d/2 + σ_t + margin)`` with ``margin = max(30 s, 10·d)``
(room for satellites and timing errors, as ASTRID/OWC do) and ``σ_t`` the 1-sigma time
uncertainty: the file's 1-sigma position uncertainty (``Errors`` field 4, arcsec) at the body's
distance, divided by ``v`` — or ``--time-uncertainty``. The exposure is
:func:`ekos_occult.plan.planner.exposure_for` of the star's magnitude, capped so the event spans at
least three frames. The expected drop (``Star`` field 11, V) is carried along and flagged when it
is below :data:`MIN_DETECTABLE_DROP_MAG`.

``--max-offset KM`` keeps events whose centre line passes within KM of the station;
``--path-sigmas N`` keeps those within the path widened by N × the 1-sigma path uncertainty.
Pure: predictions and the site in, events out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ekos_occult.model import OccultationEvent, PredictionInfo, Site
from ekos_occult.plan.earthsky import EARTH_RADIUS_KM
from ekos_occult.plan.geometry import StationGeometry, km_per_arcsec, station_geometry
from ekos_occult.plan.occelmnt import Prediction
from ekos_occult.plan.planner import exposure_for

__all__ = [
    "MARGIN_MIN_S",
    "MARGIN_DURATION_FACTOR",
    "MIN_DETECTABLE_DROP_MAG",
    "REACH_SIGMAS",
    "reach_km",
    "PredictionOptions",
    "StationEvent",
    "PredictedEvents",
    "star_magnitude",
    "expected_drop",
    "time_uncertainty_s",
    "recording_window",
    "events_from_predictions",
]

MARGIN_MIN_S = 30.0
MAX_WINDOW_S = 86_400.0
"""Longest recording window planned (s); a longer one comes from a broken prediction (a shadow
speed near zero or a huge time uncertainty) and is skipped with the reason."""
MARGIN_DURATION_FACTOR = 10.0
REACH_SIGMAS = 3.0  # path uncertainties added to the reach (see reach_km)
MIN_DETECTABLE_DROP_MAG = 0.2  # video sees drops down to ~0.2 mag (0.1 with good S/N)


@dataclass(frozen=True)
class PredictionOptions:
    """How predictions become events (from ``--max-offset``, ``--path-sigmas``,
    ``--time-uncertainty``); ``None`` means no filter / derive from the file."""

    max_offset_km: float | None = None
    path_sigmas: float | None = None
    time_uncertainty_s: float | None = None

    def __post_init__(self) -> None:
        for label, value in (
            ("--max-offset", self.max_offset_km),
            ("--path-sigmas", self.path_sigmas),
            ("--time-uncertainty", self.time_uncertainty_s),
        ):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be a non-negative number, not {value}.")


@dataclass(frozen=True)
class StationEvent:
    """One prediction at the station: its geometry, the event for the planner, and whether the
    path filters kept it (``reason`` says why not)."""

    prediction: Prediction
    geometry: StationGeometry
    event: OccultationEvent | None
    exposure_s: float | None
    kept: bool
    reason: str = ""


@dataclass(frozen=True)
class PredictedEvents:
    """Every prediction at the station (file order) and warnings for the user."""

    items: tuple[StationEvent, ...]
    warnings: tuple[str, ...] = ()

    @property
    def events(self) -> tuple[OccultationEvent, ...]:
        """The events the filters kept, for :func:`ekos_occult.plan.planner.make_plan`."""
        return tuple(i.event for i in self.items if i.kept and i.event is not None)


def star_magnitude(p: Prediction) -> float | None:
    """The star's V magnitude (``Star`` field 4), else R, else B."""
    s = p.star
    return next((m for m in (s.mag_v, s.mag_r, s.mag_b) if m is not None), None)


def expected_drop(p: Prediction) -> float | None:
    """The V magnitude drop: ``Star`` field 11, else from the star's and the body's magnitudes."""
    if p.star.mag_drop_v is not None:
        return p.star.mag_drop_v
    star = star_magnitude(p)
    body = p.object.mag_v if p.object.mag_v is not None else p.object.mag
    if star is None or body is None:
        return None
    # Before: star + body; during: the body alone.
    return round(2.5 * math.log10(1.0 + 10.0 ** (0.4 * (body - star))), 2)


def time_uncertainty_s(p: Prediction, g: StationGeometry, override: float | None = None) -> float:
    """1-sigma time uncertainty: position uncertainty (km) ÷ shadow speed relative to the station.

    The position uncertainty is ``Errors`` field 4 (else the error ellipse's major axis) in arcsec
    at the body's distance. 0 when the file gives neither (the margin still applies).
    """
    if override is not None:
        return override
    e, distance = p.errors, p.object.distance_au
    sigma_arcsec = (
        e.position_sigma_arcsec if e.position_sigma_arcsec is not None else e.major_arcsec
    )
    if sigma_arcsec is None or distance is None or distance <= 0:
        return 0.0
    return sigma_arcsec * km_per_arcsec(distance) / g.relative_speed_km_s


def window_length_s(duration_s: float, sigma_t_s: float) -> float:
    """Length of :func:`recording_window` in seconds (may be inf or NaN for broken input)."""
    margin = max(MARGIN_MIN_S, MARGIN_DURATION_FACTOR * duration_s)
    return 2.0 * (duration_s / 2.0 + sigma_t_s + margin)


def recording_window(
    central: datetime, duration_s: float, sigma_t_s: float
) -> tuple[datetime, datetime]:
    """``central ± (duration/2 + σ_t + max(30 s, 10 × duration))``."""
    half = timedelta(seconds=window_length_s(duration_s, sigma_t_s) / 2.0)
    return central - half, central + half


def reach_km(g: StationGeometry, diameter_km: float) -> float:
    """How far from the centre line a station can be and still be reachable by the path:
    the Earth's radius + half the path width + :data:`REACH_SIGMAS` × its 1-sigma uncertainty.

    Generous on purpose (a mobile observer drives to the path; a feed filtered for a station
    keeps everything), yet a shadow that never touches the Earth's disc on the station's side,
    as in whole-sky Occult searches, is beyond it.
    """
    return EARTH_RADIUS_KM + diameter_km / 2.0 + REACH_SIGMAS * (g.sigma_path_km or 0.0)


def _filter_reason(g: StationGeometry, diameter_km: float, options: PredictionOptions) -> str:
    distance = abs(g.offset_km)
    reach = reach_km(g, diameter_km)
    if not distance <= reach:  # also NaN
        return (
            f"the path cannot reach the station: its centre line passes {distance:.0f} km "
            f"away, beyond the Earth's radius + half the path width + {REACH_SIGMAS:g} sigma "
            f"({reach:.0f} km)"
        )
    if options.max_offset_km is not None and distance > options.max_offset_km:
        return (
            f"the centre line passes {distance:.1f} km away (--max-offset "
            f"{options.max_offset_km:g} km)"
        )
    if options.path_sigmas is not None:
        limit = diameter_km / 2.0 + options.path_sigmas * (g.sigma_path_km or 0.0)
        if distance > limit:
            return (
                f"the station is {distance:.1f} km from the centre line, beyond the path "
                f"widened by {options.path_sigmas:g} sigma ({limit:.1f} km)"
            )
    return ""


def _names(predictions: Sequence[Prediction]) -> list[str]:
    """``(2731) Cucula``; the event ID is added where a name would repeat."""
    counts = Counter(p.asteroid for p in predictions)
    return [
        p.asteroid if counts[p.asteroid] == 1 else f"{p.asteroid} {p.event_id}" for p in predictions
    ]


def _event(
    p: Prediction, g: StationGeometry, name: str, mag: float, sigma_t: float, drop: float | None
) -> OccultationEvent:
    start, end = recording_window(g.central_time, g.max_duration_s, sigma_t)
    info = PredictionInfo(
        chord_offset_km=g.offset_km,
        side=g.side,
        in_path=g.in_path,
        in_1sigma=g.in_1sigma,
        sigma_path_km=g.sigma_path_km,
        shadow_speed_km_s=g.shadow_speed_km_s,
        relative_speed_km_s=g.relative_speed_km_s,
        max_duration_s=g.max_duration_s,
        chord_duration_s=g.chord_duration_s,
        time_uncertainty_s=sigma_t,
        mag_drop=drop,
        small_drop=drop is not None and drop < MIN_DETECTABLE_DROP_MAG,
    )
    fields = {tag.lower(): text for tag, text in p.raw if text}
    return OccultationEvent(
        name=name,
        ra_deg=p.star.ra_hours * 15.0,
        dec_deg=p.star.dec_deg,
        record_start=start,
        record_end=end,
        mag=mag,
        event_duration_s=g.max_duration_s,
        central_time=g.central_time,
        asteroid=p.asteroid,
        event_id=p.event_id,
        line=p.line,
        fields={"file": p.path, **fields},
        prediction=info,
    )


def events_from_predictions(
    predictions: Sequence[Prediction], site: Site, options: PredictionOptions | None = None
) -> PredictedEvents:
    """Compute each prediction at the site and turn it into a planner event.

    Args:
        predictions: events read from occelmnt files.
        site: the station.
        options: filters and the time-uncertainty override.

    Returns:
        One item per prediction (kept or filtered out, with the reason), and warnings: the
        geometry's (self-check), a star with no magnitude, a drop too small to see.
    """
    options = options or PredictionOptions()
    geometries = station_geometry(predictions, site)
    items: list[StationEvent] = []
    notes: list[str] = []
    for p, g, name in zip(predictions, geometries, _names(predictions), strict=True):
        notes.extend(g.warnings)
        if p.earth.jwst:
            notes.append(
                f"{p.where}: the prediction is for the James Webb Space Telescope "
                "(Earth field 4), not for the Earth: not planned"
            )
            items.append(StationEvent(p, g, None, None, False, "prediction for JWST"))
            continue
        mag = star_magnitude(p)
        if mag is None:
            notes.append(f"{p.where}: the star has no magnitude (Star fields 3-5): not planned")
            items.append(StationEvent(p, g, None, None, False, "no star magnitude"))
            continue
        drop = expected_drop(p)
        sigma_t = time_uncertainty_s(p, g, options.time_uncertainty_s)
        length = window_length_s(g.max_duration_s, sigma_t)
        if not length <= MAX_WINDOW_S:  # also NaN
            why = (
                f"recording window of {length:.3g} s (event {g.max_duration_s:.3g} s, time "
                f"uncertainty {sigma_t:.3g} s) is longer than the {MAX_WINDOW_S:g} s limit"
            )
            notes.append(
                f"{p.where}: the {why}: not planned; check the prediction's speed and errors"
            )
            items.append(StationEvent(p, g, None, None, False, why))
            continue
        event = _event(p, g, name, mag, sigma_t, drop)
        reason = _filter_reason(g, p.object.diameter_km, options)
        if not reason and event.prediction is not None and event.prediction.small_drop:
            notes.append(
                f"{name}: the expected drop is only {drop:.2f} mag: it may not be detectable"
            )
        items.append(
            StationEvent(
                p, g, event, exposure_for(mag, g.max_duration_s), kept=not reason, reason=reason
            )
        )
    return PredictedEvents(tuple(items), tuple(notes))
