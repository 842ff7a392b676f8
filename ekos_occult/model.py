"""Frozen records shared by every stage: events, visibility verdicts, planned jobs, the plan.

Times are timezone-aware UTC :class:`datetime.datetime`; angles carry their unit in the name.
No I/O and no clock here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType

__all__ = [
    "normalise_longitude",
    "Site",
    "OccultationEvent",
    "PredictionInfo",
    "Visibility",
    "Status",
    "SkipReason",
    "PlannedEvent",
    "InvalidRow",
    "PlanRules",
    "Plan",
]


def normalise_longitude(lon_deg: float) -> float:
    """East-positive longitude in (-180, 180]: ``359.9`` and ``-0.1`` are the same place."""
    lon = math.fmod(lon_deg, 360.0)
    if lon > 180.0:
        lon -= 360.0
    elif lon <= -180.0:
        lon += 360.0
    return round(lon, 10) + 0.0  # 359.9 - 360 is -0.10000000000002274: keep it -0.1


@dataclass(frozen=True)
class Site:
    """An observing site: geodetic latitude, east-positive longitude, height above the ellipsoid."""

    lat_deg: float
    lon_deg: float
    elevation_m: float = 0.0

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat_deg <= 90.0:
            raise ValueError(f"Latitude must be between -90 and 90 degrees, not {self.lat_deg}.")
        if not -180.0 <= self.lon_deg <= 360.0:
            raise ValueError(f"Longitude must be between -180 and 360 degrees, not {self.lon_deg}.")
        # One longitude per place: 359.9 is stored as -0.1 (night dates depend on it).
        object.__setattr__(self, "lon_deg", normalise_longitude(self.lon_deg))
        if not -500.0 <= self.elevation_m <= 9000.0:
            raise ValueError(f"Elevation must be between -500 and 9000 m, not {self.elevation_m}.")

    def __str__(self) -> str:
        return f"{self.lat_deg:.5f},{self.lon_deg:.5f},{self.elevation_m:.0f}"


def _frozen_map(m: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class PredictionInfo:
    """What an occelmnt prediction says about an event at the station (see ``geometry``).

    Attributes:
        chord_offset_km: signed cross-track distance from the centre line (positive: left of the
            shadow's motion seen from the star, i.e. north for a shadow moving east).
        side: that side in words (north, south, east, west).
        in_path, in_1sigma: inside the shadow path; inside it widened by 1-sigma each side.
        sigma_path_km: 1-sigma cross-track path uncertainty (None when the file has none).
        shadow_speed_km_s: the shadow's speed on the fundamental plane.
        relative_speed_km_s: its speed relative to the station (Earth rotation included).
        max_duration_s: the station's duration on the centre line.
        chord_duration_s: the duration predicted at the station (0 outside the path).
        time_uncertainty_s: 1-sigma uncertainty of the central time used for the window.
        mag_drop: expected magnitude drop (None when unknown).
        small_drop: the drop is probably too small to detect.
    """

    chord_offset_km: float
    side: str
    in_path: bool
    in_1sigma: bool
    sigma_path_km: float | None
    shadow_speed_km_s: float
    relative_speed_km_s: float
    max_duration_s: float
    chord_duration_s: float
    time_uncertainty_s: float
    mag_drop: float | None = None
    small_drop: bool = False


@dataclass(frozen=True)
class OccultationEvent:
    """One event from the nightly list: the star, the recording window, what we know of the event.

    Attributes:
        name: the star/event name as given (not sanitised: escaping happens where it is used).
        ra_deg, dec_deg: ICRS/J2000 position of the star in degrees.
        record_start, record_end: UTC recording window.
        mag: the star's magnitude.
        priority: higher wins a conflict.
        exposure_s: an explicit exposure that overrides the magnitude rule.
        event_duration_s: predicted maximum duration of the occultation.
        central_time: predicted central time when the input gave one (``epoch``/``time``).
        asteroid, event_id: optional identification.
        line: the physical line of the input the event came from (0 when not from a file).
        fields: every input column as read (lower-case names), for the JSON output.
        prediction: station geometry when the event came from an occelmnt prediction.
    """

    name: str
    ra_deg: float
    dec_deg: float
    record_start: datetime
    record_end: datetime
    mag: float
    priority: int = 0
    exposure_s: float | None = None
    event_duration_s: float | None = None
    central_time: datetime | None = None
    asteroid: str | None = None
    event_id: str | None = None
    line: int = 0
    fields: Mapping[str, str] = field(default_factory=_frozen_map)
    prediction: PredictionInfo | None = None

    def __post_init__(self) -> None:
        for label, t in (("record_start", self.record_start), ("record_end", self.record_end)):
            if t.tzinfo is None or t.utcoffset() != timedelta(0):
                raise ValueError(f"{label} must be a timezone-aware UTC datetime, not {t!r}.")
        if self.record_end <= self.record_start:
            raise ValueError("record_end must be after record_start.")
        if not -90.0 <= self.dec_deg <= 90.0:
            raise ValueError(f"Dec must be between -90 and 90 degrees, not {self.dec_deg}.")
        object.__setattr__(self, "fields", _frozen_map(self.fields))

    @property
    def duration(self) -> timedelta:
        """Length of the recording window."""
        return self.record_end - self.record_start

    @property
    def ra_hours(self) -> float:
        """Right ascension in decimal hours (what Ekos files want)."""
        return self.ra_deg / 15.0


@dataclass(frozen=True)
class Visibility:
    """Where the star and the Sun are during the recording window.

    ``altitude_deg``/``azimuth_deg``/``sun_altitude_deg`` are at the window's centre;
    ``min_altitude_deg``/``max_sun_altitude_deg`` are the extremes over the window.
    """

    altitude_deg: float
    azimuth_deg: float
    sun_altitude_deg: float
    min_altitude_deg: float
    max_sun_altitude_deg: float


class Status(str, Enum):
    """What the plan decided for an event."""

    SCHEDULED = "scheduled"
    SKIPPED = "skipped"
    INVALID = "invalid"


class SkipReason(str, Enum):
    """Why an event was skipped, checked in this order."""

    PAST = "past"
    SUN = "sun"
    ALTITUDE = "altitude"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class PlannedEvent:
    """An event with the plan's verdict.

    Attributes:
        event: the input event.
        status: scheduled or skipped.
        reason: why it was skipped (``None`` when scheduled).
        detail: a sentence for the user (why skipped, or notes).
        job_start: when the Ekos job must start (``record_start - lead``).
        exposure_s: the stream exposure chosen for the recording.
        visibility: star and Sun positions (``None`` only if not computed, e.g. past events).
        notes: warnings that do not skip the event (e.g. Ekos spacing rules).
    """

    event: OccultationEvent
    status: Status
    reason: SkipReason | None
    detail: str
    job_start: datetime
    exposure_s: float
    visibility: Visibility | None
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def is_scheduled(self) -> bool:
        return self.status is Status.SCHEDULED


@dataclass(frozen=True)
class InvalidRow:
    """A CSV row that could not be read (only kept with ``--skip-invalid``)."""

    line: int
    name: str | None
    problems: tuple[str, ...]


@dataclass(frozen=True)
class PlanRules:
    """The rules a plan was made with (defaults as in the issue; overridden by config and flags)."""

    lead_s: float = 300.0
    min_altitude_deg: float = 20.0
    max_sun_altitude_deg: float = -12.0


@dataclass(frozen=True)
class Plan:
    """The night's plan: every event with its verdict, in record_start order."""

    site: Site
    now: datetime
    rules: PlanRules
    events: tuple[PlannedEvent, ...]
    invalid: tuple[InvalidRow, ...] = ()
    warnings: tuple[str, ...] = ()  # for the user, e.g. ignored CSV columns (printed to stderr)

    @property
    def scheduled(self) -> tuple[PlannedEvent, ...]:
        return tuple(e for e in self.events if e.is_scheduled)

    @property
    def skipped(self) -> tuple[PlannedEvent, ...]:
        return tuple(e for e in self.events if not e.is_scheduled)
