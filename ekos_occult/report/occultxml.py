"""Occult's "Asteroid observations" XML (file version 2.15, ``<AsteroidOccultations>``): one
event with this station's observation, writer (a Jinja template: templates are the only producer
of XML) and parser.

Layout and fields as Occult's help "FileFormat AsteroidObservations" gives them: each element
holds pipe-separated values. ``Date`` is year|month|day|hour (0.1 h, near the event); D and R are
``hh mm ss.ss`` from 0h of that date (past 24 h when the event crosses midnight) with the event
code (``D``/``R``, ``M`` for a non-detection, whose times are then the start and end of the
observed span), accuracy (s), PEqn, weight and plot code; ``ID`` carries the observers, location
(``±ddd mm ss.s``, WGS84 datum blank), aperture (cm) and the telescope/method/time-source codes;
``LightData``/``LightValues`` the light curve scaled to a maximum of 9524 (an empty value for a
dropped exposure). The asteroid's motion coefficients are shifted from the prediction's epoch to
the hour in ``Date``. Unknown values stay empty, and an XML comment lists what the observer must
fill in. Pure: record in, text out; text in, fields out.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from importlib import resources

import jinja2
from lxml import etree

from ekos_occult.errors import ReportError
from ekos_occult.plan.occelmnt import Prediction
from ekos_occult.report.fields import (
    METHOD_CODES,
    TELESCOPE_CODES,
    TIME_SOURCE_CODES,
    accuracy,
    clean,
    dms,
    hms,
    seconds_of_day,
)
from ekos_occult.report.record import LightCurveData, Outcome, Report

__all__ = [
    "FILE_VERSION",
    "LIGHT_MAX",
    "occult_elements",
    "format_occult_xml",
    "parse_occult_xml",
    "check_occult_xml",
]

FILE_VERSION = "2.15"
LIGHT_MAX = 9524  # Occult scales light curves so that the maximum is 10000/1.05
_TEMPLATE = "occult-observation.xml.j2"
_PARALLAX_1AU_ARCSEC = 8.794143
_CATALOGUES = re.compile(r"^(HIP|TYC|Tycho2|UCAC4|USNO-B1|NOMAD)[ _]+(.+)$")
_PATHS = (
    "Date",
    "Details/Star",
    "Details/Asteroid",
    "Observations/Observer/ID",
    "Observations/Observer/Conditions",
    "Observations/Observer/D",
    "Observations/Observer/R",
    "Observations/Observer/LightData",
    "Observations/Observer/LightValues",
    "Observations/Prediction",
    "Added",
    "LastEdited",
)


def _f(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _event_time(r: Report) -> datetime | None:
    if r.d is not None and r.r is not None:
        return r.d.time + (r.r.time - r.d.time) / 2
    if r.start is not None and r.end is not None:
        return r.start + (r.end - r.start) / 2
    return r.predicted


def _date(r: Report) -> tuple[list[str], datetime | None]:
    t = _event_time(r)
    if t is None or r.day is None:
        return ["", "", "", ""], None
    hour = round(seconds_of_day(t, r.day) / 3600.0, 1)
    midnight = datetime(r.day.year, r.day.month, r.day.day, tzinfo=timezone.utc)
    return [str(r.day.year), str(r.day.month), str(r.day.day), f"{hour:.1f}"], midnight + timedelta(
        hours=hour
    )


def _star(p: Prediction | None) -> list[str]:
    if p is None:
        return [""] * 16
    s = p.star
    m = _CATALOGUES.match(s.star_id.strip())
    catalogue, number = (m.group(1), m.group(2)) if m else ("", s.star_id.strip())
    return [
        catalogue,
        number,
        "-1",  # Gaia version: not specified (occelmnt does not say)
        "0",
        f"{s.ra_hours:.10f}",
        f"{s.dec_deg:+.9f}",
        "",
        "",
        f"{s.diameter_mas:.2f}",
        "",
        _f(s.apparent_ra_hours, ".8f"),
        _f(s.apparent_dec_deg, "+.7f"),
        _f(s.mag_b, ".2f"),
        _f(s.mag_v, ".2f"),
        _f(s.mag_r, ".2f"),
        "",
    ]


def shifted_motion(
    p: Prediction, epoch: datetime
) -> tuple[float, float, float, float, float, float]:
    """dX, dY, d2X, d2Y, d3X, d3Y about ``epoch`` instead of the prediction's closest approach.

    With ``t = t' + τ`` (τ hours from the closest approach to ``epoch``):
    ``a' = a + 2bτ + 3cτ²``, ``b' = b + 3cτ``, ``c' = c``.
    """
    e = p.elements
    tau = (epoch - e.closest_approach).total_seconds() / 3600.0
    out = []
    for a, b, c in ((e.dx, e.d2x, e.d3x), (e.dy, e.d2y, e.d3y)):
        out.append((a + 2 * b * tau + 3 * c * tau * tau, b + 3 * c * tau, c))
    (ax, bx, cx), (ay, by, cy) = out
    return ax, ay, bx, by, cx, cy


def _asteroid(r: Report, epoch: datetime | None) -> list[str]:
    p = r.prediction
    if p is None:
        return [""] * 13
    o = p.object
    motion = [f"{v:.8f}" for v in shifted_motion(p, epoch)] if epoch else [""] * 6
    parallax = _PARALLAX_1AU_ARCSEC / o.distance_au if o.distance_au else None
    mv = o.mag_v if o.mag_v is not None else o.mag
    return [
        o.number.strip(),
        o.name.strip(),
        *motion,
        _f(parallax, ".5f"),
        "",
        f"{o.diameter_km:.1f}",
        _f(o.diameter_uncertainty_km, ".1f"),
        _f(mv, ".2f"),
    ]


def _observer_id(r: Report) -> list[str]:
    st, eq = r.station, r.equipment
    return [
        "1",
        clean(st.observer or ""),
        clean(st.second_observer or ""),
        "1" if st.more_observers else "0",
        clean(st.nearest_town or ""),
        st.country or "",
        "" if st.lon_deg is None else dms(st.lon_deg, 3, pad=" "),
        "" if st.lat_deg is None else dms(st.lat_deg, 2, pad=" "),
        _f(st.elevation_m, ".0f"),
        " ",  # datum: blank = WGS84
        _f(eq.aperture_cm, "g"),
        TELESCOPE_CODES[eq.telescope_type] if eq.telescope_type else "_",
        METHOD_CODES[eq.method],
        TIME_SOURCE_CODES[eq.time_source] if eq.time_source else "_",
    ]


def _edge(r: Report, t: datetime | None, code: str, acc: float | None) -> list[str]:
    when = "" if t is None or r.day is None else hms(seconds_of_day(t, r.day), 2, " ", pad=" ")
    return [when, code, "" if acc is None else accuracy(acc), "", "", ""]


def _edges(r: Report) -> tuple[list[str], list[str]]:
    if r.outcome is Outcome.POSITIVE and r.d and r.r:
        return _edge(r, r.d.time, "D", r.d.accuracy_s), _edge(r, r.r.time, "R", r.r.accuracy_s)
    return _edge(r, r.start, "M", None), _edge(r, r.end, "M", None)


def light_values(lc: LightCurveData) -> list[str]:
    """The light curve scaled so that its maximum is :data:`LIGHT_MAX` (integers)."""
    top = max((v for v in lc.values if v is not None), default=0.0)
    scale = LIGHT_MAX / top if top > 0 else 0.0
    return ["" if v is None else str(round(v * scale)) for v in lc.values]


def _light(r: Report) -> dict[str, list[str]]:
    lc = r.lightcurve
    if lc is None:
        return {}
    t = lc.first
    sec = t.second + t.microsecond / 1e6
    data = [str(t.year), str(t.month), str(t.day), str(t.hour), str(t.minute), f"{sec:.3f}"]
    data += [f"{lc.duration_s:.3f}", str(len(lc.values))]
    return {
        "Observations/Observer/LightData": data,
        "Observations/Observer/LightValues": light_values(lc),
    }


def _prediction(r: Report) -> dict[str, list[str]]:
    p, st = r.prediction, r.station
    if p is None or r.predicted is None or r.day is None or st.lat_deg is None:
        return {}
    assert st.lon_deg is not None
    note = f"{p.elements.source}; predicted central time at this station"
    if r.chord_offset_km is not None:
        note += f", {abs(r.chord_offset_km):.1f} km {r.side} of the centre line"
    return {
        "Observations/Prediction": [
            "1",
            dms(st.lon_deg, 3, pad=" "),
            dms(st.lat_deg, 2, pad=" "),
            hms(seconds_of_day(r.predicted, r.day), 1, " ", pad=" "),
            clean(note),
        ]
    }


def occult_elements(r: Report) -> dict[str, list[str]]:
    """Each element's path (below ``Event``) and its fields, as they are written."""
    date_fields, epoch = _date(r)
    d, rr = _edges(r)
    made = [str(r.made.year), str(r.made.month), str(r.made.day)]
    out = {
        "Date": date_fields,
        "Details/Star": _star(r.prediction),
        "Details/Asteroid": _asteroid(r, epoch),
        "Observations/Observer/ID": _observer_id(r),
        "Observations/Observer/Conditions": [
            "_",
            "_",
            _f(r.snr, ".1f"),
            "",
            clean("; ".join(r.comments)),
        ],
        "Observations/Observer/D": d,
        "Observations/Observer/R": rr,
        **_light(r),
        **_prediction(r),
        "Added": made,
        "LastEdited": made,
    }
    return out


def _environment() -> jinja2.Environment:
    def load(name: str) -> str:
        res = resources.files("ekos_occult.templates").joinpath("report").joinpath(name)
        return res.read_text(encoding="utf-8")

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def format_occult_xml(r: Report) -> str:
    """The observation as an Occult asteroid-observations XML document."""
    elements = {k: "|".join(v) for k, v in occult_elements(r).items()}
    to_fill = clean(", ".join(r.to_fill)).replace("--", "-")
    return (
        _environment()
        .get_template(_TEMPLATE)
        .render(e=elements, version=FILE_VERSION, to_fill=to_fill)
    )


def parse_occult_xml(text: str, origin: str = "report") -> dict[str, list[str]]:
    """The pipe-separated fields of each element of the (first) ``<Event>``.

    Raises:
        ReportError: not XML, not ``<AsteroidOccultations>``, or no ``<Event>``.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise ReportError(f"{origin}:{exc.lineno}: not XML ({exc.msg}).") from exc
    if root.tag != "AsteroidOccultations":
        raise ReportError(
            f"{origin}: the root element is <{root.tag}>, not <AsteroidOccultations>."
        )
    version = root.findtext("FileVersion")
    event = root.find("Event")
    if event is None or version is None:
        raise ReportError(f"{origin}: no <FileVersion> or no <Event> in <AsteroidOccultations>.")
    out = {"FileVersion": [version]}
    for path in _PATHS:
        element = event.find(path)
        if element is not None:
            out[path] = (element.text or "").split("|")
    return out


def check_occult_xml(r: Report, text: str, origin: str) -> None:
    """Read ``text`` back and compare every element's fields with what was meant to be written.

    Raises:
        ReportError: an element is missing or a field differs (named).
    """
    want = {"FileVersion": [FILE_VERSION], **occult_elements(r)}
    got = parse_occult_xml(text, origin)
    for path in want.keys() | got.keys():
        w, g = want.get(path), got.get(path)
        if w != g:
            raise ReportError(
                f"{origin}: the Occult XML does not read back: <{path}> was written as {w!r}, "
                f"read as {g!r}."
            )
