"""The IOTA-ES asteroidal occultation report form 2.03 (what SODIS, sodis.iota-es.de, takes):
writer and parser.

Every line starts with ``#``; a value line is ``#Key: value``, the other lines explain the codes
and are part of the form. Times are UTC ``HH:MM:SS.ss`` (D and R to 0.01 s, prefixed by their
code letter: ``D``/``R`` for the main star, ``M`` alone for a non-detection), accuracies and
durations in seconds, coordinates ``±DD MM SS.S`` (WGS84: the Datum line stays blank), aperture
and focal length in cm. Telescope, method and time source are the form's code letters/digits.
A value the tool cannot know is written as :data:`~ekos_occult.report.fields.MARK` for the
observer to fill in. Pure: record in, text out; text in, fields out.
"""

from __future__ import annotations

import re
from datetime import datetime

from ekos_occult.errors import ReportError
from ekos_occult.report.fields import (
    MARK,
    METHOD_CODES,
    MONTHS,
    TELESCOPE_CODES,
    TIME_SOURCE_CODES,
    accuracy,
    clean,
    dms,
    hms,
    seconds_of_day,
)
from ekos_occult.report.record import Outcome, Report

__all__ = ["FORM_TITLE", "iota_es_fields", "format_iota_es", "parse_iota_es", "check_iota_es"]

FORM_TITLE = "#IOTA-ES ASTEROIDAL OCCULTATION - REPORT FORM 2.03"

# The form's own explanation lines, placed before the key they explain.
_NOTES = {
    "Occultation": "#Event",
    "Observer1": "#OBSERVER",
    "NearestCity": "#OBSERVING_STATION",
    "Latitude": "#Coordinates LAT +/-DD MM SS.S  LON +/-DDD MM SS.S",
    "Datum": "#Datum _blank=WGS84 N=NAD1927 E=ED1950 T=Tokyo G=GB1936 *=unspecified, or other",
    "Telescope": "#Teleskop _=unstated 1=Refractor 2=Newtonian 3=SCT 4=Dobsonian 5=Binoculars "
    "6=Other 7=None 8=eVscope",
    "Aperture": "#Aperture in cm",
    "FocalLength": "#FocalLength in cm",
    "ObservingMethod": "#ObservingMethod   _=unspecified a=Analogue & digital video b=Digital "
    "SLR-camera video c=Photometer d=Sequential images e=Drift scan f=Visual g=Other",
    "StartObs": "#Observation",
    "D": "#D D=Main Star d=second Star G=satellite main star g=satellite 2nd star N=ring "
    "M=non detection +time hh:mm:ss.s",
    "R": "#R R=Main Star r=second Star B=satellite main star b=satellite 2nd star N=ring "
    "M=non detection +time hh:mm:ss.s",
    "Timesource": "#Timesource  _=unspecified a=GPS b=NTP c=Telephone (fixed or mobile) d=Radio "
    "time signal e=Internal clock of recorder f=Stopwatch g=Other",
    "Wind": "#Weatherconditions",
    "Transparency": "#Transparency 1=Clear 2=Fog 3=Thin cloud <2 [mag loss <2 mag.] 4=Thick "
    "cloud >2 [mag loss >2 mag. 5=Broken opaque cloud [that is, observed thru gaps in the "
    "cloud] 6=Star faint 7=By averted vision",
    "Stability": "#Stability _=unstated 1=Steady 2=Slight flickering 3=Strong flickering ",
}
_LINE = re.compile(r"^#([A-Za-z][A-Za-z0-9_/-]*):(.*)$")


def _or_mark(value: str | None) -> str:
    return MARK if value is None else value


def _time(r: Report, t: datetime | None) -> str:
    if t is None or r.day is None:
        return MARK
    return hms(seconds_of_day(t, r.day) % 86400.0)


def _acc(value: float | None) -> str | None:
    return None if value is None else accuracy(value)


def _num(value: float | None, fmt: str) -> str | None:
    return None if value is None else format(value, fmt)


def _event_fields(r: Report) -> list[tuple[str, str]]:
    p = r.predicted
    predict = f"{p.day:02d} {MONTHS[p.month - 1][:3]}; {p.year} {p:%H:%M:%S} UT" if p else MARK
    day = f"{r.day.day} {MONTHS[r.day.month - 1]} {r.day.year}" if r.day else MARK
    return [
        ("Occultation", r.outcome.value.upper()),
        ("DATE", day),
        ("PREDICTTIME", predict),
        ("STAR", _or_mark(r.star)),
        ("ASTEROID", _or_mark(r.asteroid_name or r.asteroid_number)),
        ("Nr", r.asteroid_number or ("" if r.asteroid_name else MARK)),
    ]


def _station_fields(r: Report) -> list[tuple[str, str]]:
    st, eq = r.station, r.equipment
    return [
        ("Observer1", _or_mark(st.observer)),
        ("Observer2", st.second_observer or ""),
        ("moreObs", "yes" if st.more_observers else ""),
        ("E-mail", _or_mark(st.email)),
        ("Address", st.address or ""),
        ("NearestCity", _or_mark(st.nearest_town)),
        ("Countrycode", _or_mark(st.country)),
        ("Latitude", MARK if st.lat_deg is None else dms(st.lat_deg, 2)),
        ("Longitude", MARK if st.lon_deg is None else dms(st.lon_deg, 3)),
        ("Altitude", _or_mark(_num(st.elevation_m, ".0f"))),
        ("Datum", ""),
        ("Telescope", TELESCOPE_CODES[eq.telescope_type] if eq.telescope_type else MARK),
        ("Aperture", _or_mark(_num(eq.aperture_cm, "g"))),
        ("FocalLength", _or_mark(_num(eq.focal_length_cm, "g"))),
        ("ObservingMethod", METHOD_CODES[eq.method]),
    ]


def _observation_fields(r: Report) -> list[tuple[str, str]]:
    eq = r.equipment
    if r.outcome is Outcome.POSITIVE and r.d and r.r:
        d, acc_d = "D" + _time(r, r.d.time), _or_mark(_acc(r.d.accuracy_s))
        rr, acc_r = "R" + _time(r, r.r.time), _or_mark(_acc(r.r.accuracy_s))
    else:
        d, acc_d, rr, acc_r = "M", "", "M", ""
    return [
        ("StartObs", _time(r, r.start)),
        ("D", d),
        ("Acc_D", acc_d),
        ("R", rr),
        ("Acc_R", acc_r),
        ("EndObs", _time(r, r.end)),
        ("Duration", _num(r.duration_s, ".2f") or ""),
        ("Exp_Time", _or_mark(_num(r.exposure_s, ".4g"))),
        ("Timesource", TIME_SOURCE_CODES[eq.time_source] if eq.time_source else MARK),
        ("Camera", _or_mark(eq.camera)),
        ("Signal/Noise", _num(r.snr, ".1f") or ""),
        ("Wind", MARK),
        ("Temperature", MARK),
        ("Transparency", MARK),
        ("Stability", MARK),
        ("Comments", clean("; ".join(r.comments))),
    ]


def iota_es_fields(r: Report) -> list[tuple[str, str]]:
    """The form's ``(key, value)`` pairs in the form's order."""
    return _event_fields(r) + _station_fields(r) + _observation_fields(r)


def format_iota_es(r: Report) -> str:
    """The filled form as text (``\\n`` line ends, one trailing newline)."""
    lines = [FORM_TITLE]
    for key, value in iota_es_fields(r):
        if key in _NOTES:
            lines.append(_NOTES[key])
        lines.append(f"#{key}: {clean(value)}".rstrip())
    return "\n".join(lines) + "\n"


def parse_iota_es(text: str, origin: str = "report") -> list[tuple[str, str]]:
    """The ``(key, value)`` pairs of a filled IOTA-ES form, in file order.

    Raises:
        ReportError: not an IOTA-ES form (title line missing) or a line without ``#``.
    """
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#IOTA-ES ASTEROIDAL OCCULTATION"):
        raise ReportError(f"{origin}:1: not an IOTA-ES report form (no {FORM_TITLE!r} line).")
    out = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if not line.startswith("#"):
            raise ReportError(f"{origin}:{number}: every line of the form starts with '#'.")
        m = _LINE.match(line)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def check_iota_es(r: Report, text: str, origin: str) -> None:
    """Read ``text`` back and compare every field with what was meant to be written.

    Raises:
        ReportError: a field is missing, extra or different (named).
    """
    want = [(k, clean(v)) for k, v in iota_es_fields(r)]
    got = parse_iota_es(text, origin)
    if got == want:
        return
    for (wk, wv), (gk, gv) in zip(want, got, strict=False):
        if (wk, wv) != (gk, gv):
            raise ReportError(
                f"{origin}: the IOTA-ES form does not read back: #{wk}: {wv!r} was written, "
                f"#{gk}: {gv!r} was read."
            )
    raise ReportError(
        f"{origin}: the IOTA-ES form does not read back: {len(want)} fields written, "
        f"{len(got)} read."
    )
