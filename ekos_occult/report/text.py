"""A plain-text report for people: the same values as the forms, in words. Pure."""

from __future__ import annotations

from datetime import datetime

from ekos_occult.report.fields import MARK, accuracy, dms, hms, seconds_of_day
from ekos_occult.report.record import Edge, Outcome, Report

__all__ = ["format_text"]


def _t(t: datetime | None) -> str:
    """UTC to 0.01 s, rounded as the forms round it."""
    if t is None:
        return MARK
    return f"{t:%Y-%m-%d} {hms(seconds_of_day(t, t.date()))} UTC"


def _edge(name: str, e: Edge | None) -> str:
    if e is None:
        return f"{name}:               -"
    acc = f"+/- {accuracy(e.accuracy_s)} s" if e.accuracy_s is not None else "accuracy unknown"
    fit = f" (fit 68 %: {e.fit_err_s:.3f} s)" if e.fit_err_s is not None else ""
    return f"{name}:               {_t(e.time)}  {acc}{fit}"


def _v(value: object, unit: str = "") -> str:
    return MARK if value is None else f"{value}{unit}"


def format_text(r: Report) -> str:
    """The report as plain text lines."""
    st, eq = r.station, r.equipment
    what = "POSITIVE (occultation timed)" if r.outcome is Outcome.POSITIVE else "NEGATIVE"
    if r.outcome is Outcome.NEGATIVE:
        what += " (no dip at all)" if r.no_dip else " (dip failed the false-event test)"
    asteroid = " ".join(x for x in (f"({r.asteroid_number})" if r.asteroid_number else "",
                                   r.asteroid_name or "") if x) or None  # fmt: skip
    offset = (
        f"{abs(r.chord_offset_km):.1f} km {r.side} of the centre line"
        if r.chord_offset_km is not None
        else None
    )
    lines = [
        f"Occultation:     {what}",
        f"Asteroid:        {_v(asteroid)}",
        f"Star:            {_v(r.star)}",
        f"Predicted:       {_t(r.predicted)} (central time at the station)",
        f"Chord offset:    {_v(offset)}",
        f"Observer:        {_v(st.observer)}"
        + (f", {st.second_observer}" if st.second_observer else ""),
        f"E-mail:          {_v(st.email)}",
        f"Near:            {_v(st.nearest_town)} ({_v(st.country)})",
        "Position:        "
        + (
            f"{dms(st.lat_deg, 2)} {dms(st.lon_deg or 0.0, 3)} {st.elevation_m or 0:.0f} m WGS84"
            if st.lat_deg is not None
            else MARK
        )
        + (f" ({st.position_source})" if st.position_source else ""),
        f"Telescope:       {_v(eq.telescope_type)}, aperture {_v(eq.aperture_cm, ' cm')}, "
        f"focal length {_v(eq.focal_length_cm, ' cm')}",
        f"Camera:          {_v(eq.camera)} ({eq.method}); time source {_v(eq.time_source)}",
        f"Observed:        {_t(r.start)} to {_t(r.end)}",
        _edge("D", r.d),
        _edge("R", r.r),
        f"Duration:        {r.duration_s:.2f} s"
        if r.duration_s is not None
        else "Duration:        -",
        f"Exposure:        {_v(r.exposure_s, ' s')}; dropped frames {r.dropped_frames}",
        f"Signal/noise:    {r.snr:.1f}" if r.snr is not None else "Signal/noise:    -",
    ]
    lines += [f"Note:            {c}" for c in r.comments]
    if r.to_fill:
        lines.append(f"To fill in:      {', '.join(r.to_fill)}")
    return "\n".join(lines) + "\n"
