"""What ``ekos-occult reduce --json`` wrote, read back into a typed record.

The reduce JSON is the contract between ``reduce`` and ``report``: times are ISO 8601 UTC (or a
time of day when the recording's date is unknown), bars are 68 % half-widths in seconds. An
optional ``timestamps`` section (source, convention, correction_s, uncertainty_s, budget) says
how far the frame times themselves can be trusted; when it is absent the report says so.
Pure: text in, record out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from ekos_occult.errors import ReportError
from ekos_occult.utc import parse_utc

__all__ = ["TimestampInfo", "ReduceResult", "parse_result", "result_from_dict", "parse_instant"]


@dataclass(frozen=True)
class TimestampInfo:
    """The ``timestamps`` section of a reduce result: how the frame times were made.

    Attributes:
        source: where the stamps came from (e.g. ``SER trailer, host clock``).
        convention: what instant a stamp marks (``start of exposure``).
        correction_s: the correction applied to every stamp (seconds, subtracted), if known.
        uncertainty_s: 1-sigma uncertainty of a frame's absolute time (seconds), if known.
        budget: the terms of that uncertainty, name -> seconds (numbers only).
        why: the correction in words, when given.
        timestamp_s: the stamps' own 1-sigma (without the clock), when given in the budget.
        d_total_s, r_total_s: each edge's whole 1-sigma (fit, stamps and clock), when known.
        exposure_s: the exposure the recording was made with (e.g. from the night journal).
    """

    source: str
    convention: str
    correction_s: float | None
    uncertainty_s: float | None
    budget: tuple[tuple[str, float], ...] = ()
    why: str = ""
    timestamp_s: float | None = None
    d_total_s: float | None = None
    r_total_s: float | None = None
    exposure_s: float | None = None


@dataclass(frozen=True)
class ReduceResult:
    """One reduced recording (see ``reduce --json``).

    Attributes:
        origin: where the result was read from (for messages).
        file: the recording or light curve that was reduced.
        event: the false-event test passed and D/R were timed.
        d, r: UTC start-of-exposure times of the disappearance and reappearance (None: no event
            or no date); ``d_time``/``r_time`` hold the time of day when only that is known.
        d_err_s, r_err_s: 68 % half-widths in seconds.
        duration_s, duration_err_s: R - D and its 68 % half-width.
        false_event_probability, false_event_sigma: the noise-induced-event test.
        frames, dropped_frames, cadence_s: the recording.
        start, end: start of the first exposure and end of the last one (None when not known).
        timestamp_source, timestamp_convention, latency_s: as reduce reports them.
        snr, drop_fraction: depth of the event against the baseline noise.
        target, references: light-curve columns used.
        timestamps: the timing section, when reduce wrote one.
        notes: reduce's notes for the user.
    """

    origin: str
    file: str
    event: bool
    d: datetime | None
    r: datetime | None
    d_time: time | None
    r_time: time | None
    d_err_s: float | None
    r_err_s: float | None
    duration_s: float | None
    duration_err_s: float | None
    false_event_probability: float
    false_event_sigma: float | None
    frames: int
    dropped_frames: int
    cadence_s: float | None
    start: datetime | None
    end: datetime | None
    timestamp_source: str
    timestamp_convention: str
    latency_s: float
    snr: float | None
    drop_fraction: float | None
    target: str
    references: tuple[str, ...]
    timestamps: TimestampInfo | None
    notes: tuple[str, ...]

    @property
    def no_dip(self) -> bool:
        """No dip at all in the light curve (as opposed to a dip that failed the test)."""
        return not self.event and any(n.startswith("no dip") for n in self.notes)


def parse_instant(text: str) -> datetime | time:
    """An ISO 8601 instant (naive = UTC) or, when the date is unknown, a time of day.

    Raises:
        ValueError: neither form.
    """
    try:
        return parse_utc(text)
    except ValueError:
        return time.fromisoformat(text)


class _Fields:
    """Typed access to the JSON object, errors naming the file and the field."""

    def __init__(self, data: Mapping[str, Any], origin: str) -> None:
        self.data, self.origin = data, origin

    def fail(self, key: str, expected: str) -> ReportError:
        got = self.data.get(key, "<missing>")
        return ReportError(
            f"{self.origin}: field {key!r}: expected {expected}, got {got!r}. Give the JSON "
            "that `ekos-occult reduce --json` printed."
        )

    def number(self, key: str, *, optional: bool = False) -> float | None:
        v = self.data.get(key)
        if v is None and (optional or key not in self.data):
            if optional:
                return None
            raise self.fail(key, "a number")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.fail(key, "a number" + (" or null" if optional else ""))
        return float(v)

    def integer(self, key: str, default: int | None = None) -> int:
        v = self.data.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise self.fail(key, "a whole number of zero or more")
        return v

    def text(self, key: str, default: str | None = None) -> str:
        v = self.data.get(key, default)
        if not isinstance(v, str):
            raise self.fail(key, "a string")
        return v

    def flag(self, key: str) -> bool:
        v = self.data.get(key)
        if not isinstance(v, bool):
            raise self.fail(key, "true or false")
        return v

    def instant(self, key: str) -> datetime | time | None:
        v = self.data.get(key)
        if v is None:
            return None
        if not isinstance(v, str):
            raise self.fail(key, "an ISO 8601 UTC time or null")
        try:
            return parse_instant(v)
        except ValueError:
            raise self.fail(key, "an ISO 8601 UTC time or null") from None

    def strings(self, key: str) -> tuple[str, ...]:
        v = self.data.get(key, [])
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise self.fail(key, "a list of strings")
        return tuple(v)


def _timestamps(f: _Fields) -> TimestampInfo | None:
    raw = f.data.get("timestamps")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise f.fail("timestamps", "an object (source, convention, correction_s, uncertainty_s)")
    t = _Fields(raw, f"{f.origin}: timestamps")
    budget_raw = raw.get("budget", {})
    if isinstance(budget_raw, list):  # [{"name": ..., "s" | "seconds" | "value": ...}]
        pairs = [
            (str(b.get("name", "?")), b.get("s", b.get("seconds", b.get("value"))))
            for b in budget_raw
            if isinstance(b, dict)
        ]
    elif isinstance(budget_raw, dict):
        pairs = list(budget_raw.items())
    else:
        raise t.fail("budget", "an object of name -> seconds")
    budget = tuple(
        (str(k), float(v))
        for k, v in pairs
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    )
    return TimestampInfo(
        source=t.text("source", ""),
        convention=t.text("convention", ""),
        correction_s=t.number("correction_s", optional=True),
        uncertainty_s=t.number("uncertainty_s", optional=True),
        budget=budget,
        why=t.text("why", ""),
        timestamp_s=dict(budget).get("timestamp_s"),
        d_total_s=t.number("D_err_total_s", optional=True),
        r_total_s=t.number("R_err_total_s", optional=True),
        exposure_s=t.number("exposure_s", optional=True),
    )


def _split(v: datetime | time | None) -> tuple[datetime | None, time | None]:
    if isinstance(v, datetime):
        return v, v.time()
    return None, v


def result_from_dict(data: Any, origin: str) -> ReduceResult:
    """Check and type a reduce result.

    Raises:
        ReportError: not an object, or a field missing or of the wrong type (named).
    """
    if not isinstance(data, dict) or "event" not in data or "false_event_probability" not in data:
        raise ReportError(
            f"{origin}: not a reduce result (a JSON object with 'event', 'D', 'R', ... as "
            "`ekos-occult reduce --json` prints it)."
        )
    f = _Fields(data, origin)
    event = f.flag("event")
    d, d_time = _split(f.instant("D"))
    r, r_time = _split(f.instant("R"))
    if event and (d_time is None or r_time is None):
        raise f.fail("D" if d_time is None else "R", "a time (the result says event: true)")
    start, _ = _split(f.instant("start_utc"))
    end, _ = _split(f.instant("end_utc"))
    return ReduceResult(
        origin=origin,
        file=f.text("file"),
        event=event,
        d=d,
        r=r,
        d_time=d_time,
        r_time=r_time,
        d_err_s=f.number("D_err_s", optional=True),
        r_err_s=f.number("R_err_s", optional=True),
        duration_s=f.number("duration_s", optional=True),
        duration_err_s=f.number("duration_err_s", optional=True),
        false_event_probability=f.number("false_event_probability") or 0.0,
        false_event_sigma=f.number("false_event_sigma", optional=True),
        frames=f.integer("frames"),
        dropped_frames=f.integer("dropped_frames", 0),
        cadence_s=f.number("cadence_s", optional=True),
        start=start,
        end=end,
        timestamp_source=f.text("timestamp_source", ""),
        timestamp_convention=f.text("timestamp_convention", ""),
        latency_s=f.number("latency_s", optional=True) or 0.0,
        snr=f.number("snr", optional=True),
        drop_fraction=f.number("drop_fraction", optional=True),
        target=f.text("target", ""),
        references=f.strings("references"),
        timestamps=_timestamps(f),
        notes=f.strings("notes"),
    )


def parse_result(text: str, origin: str) -> ReduceResult:
    """Parse the text of a reduce JSON.

    Raises:
        ReportError: not JSON, or not a reduce result.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{origin}:{exc.lineno}: not JSON ({exc.msg}); give the output of "
            "`ekos-occult reduce --json`."
        ) from exc
    return result_from_dict(data, origin)
