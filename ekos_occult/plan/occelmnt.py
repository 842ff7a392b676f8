"""Occult "occelmnt" XML (``<Occultations><Event>…``) → :class:`Prediction` records.

Each element of an ``<Event>`` holds comma-separated values. They are read by field index
(Occult's help, "FileFormat Occelmnt files"), with a default for every trailing field that older
files lack (Occult added fields over the years: nearby stars in 2021, asteroid V/R magnitudes in
2024; old feeds have no third-order terms). ``Star`` fields 11 and 12 are the magnitude drops in V
and R: the help's one-line summary leaves them out, and so do some write-ups copied from it.

The XML is parsed by lxml with no network access, no DTD and no entity expansion. A file that is
not XML, or not ``<Occultations>``, is an error; an ``<Event>`` that cannot be read is an error
naming the event and the element, and in a feed of several events the others are still read (the
bad one is reported as a warning). Pure: text in, records out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ekos_occult.errors import PredictionFormatError
from ekos_occult.model import normalise_longitude

__all__ = [
    "Elements",
    "EarthInfo",
    "StarInfo",
    "ObjectInfo",
    "ErrorInfo",
    "Prediction",
    "Feed",
    "read_occelmnt",
    "is_occelmnt_text",
]

_MISSING: Any = object()  # marks a required field (no default)


@dataclass(frozen=True)
class Elements:
    """``<Elements>``: the Besselian-style elements of the shadow on the fundamental plane.

    Shadow centre at ``t`` hours from ``closest_approach``: ``X = x + dx·t + d2x·t² + d3x·t³``
    (same for ``Y``), in Earth equatorial radii; ``X`` towards the east, ``Y`` towards the north.
    """

    source: str
    max_duration_s: float | None
    closest_approach: datetime
    x: float
    y: float
    dx: float
    dy: float
    d2x: float = 0.0
    d2y: float = 0.0
    d3x: float = 0.0
    d3y: float = 0.0


@dataclass(frozen=True)
class EarthInfo:
    """``<Earth>``: substellar and subsolar points at the closest approach (degrees)."""

    substellar_lon_deg: float | None
    substellar_lat_deg: float | None
    subsolar_lon_deg: float | None
    subsolar_lat_deg: float | None
    jwst: bool = False


@dataclass(frozen=True)
class StarInfo:
    """``<Star>``: catalogue position (ICRS, epoch of event), magnitudes, apparent place, drops."""

    star_id: str
    ra_hours: float
    dec_deg: float
    mag_b: float | None = None
    mag_v: float | None = None
    mag_r: float | None = None
    diameter_mas: float = 0.0
    double_code: int = 0
    k2: bool = False
    apparent_ra_hours: float | None = None
    apparent_dec_deg: float | None = None
    mag_drop_v: float | None = None
    mag_drop_r: float | None = None
    drops_adjusted: bool = False
    bright_nearby: int = -1
    all_nearby: int = -1


@dataclass(frozen=True)
class ObjectInfo:
    """``<Object>``: the occulting body. ``diameter_km`` includes the star's diameter."""

    number: str
    name: str
    mag: float | None
    diameter_km: float
    distance_au: float | None = None
    rings: int = 0
    moons: int = 0
    dra_s_per_h: float | None = None
    ddec_arcsec_per_h: float | None = None
    taxonomy: str = ""
    diameter_uncertainty_km: float | None = None
    moon_in_planet_shadow: bool = False
    mag_v: float | None = None
    mag_r: float | None = None


@dataclass(frozen=True)
class ErrorInfo:
    """``<Errors>``: prediction uncertainties (ellipse axes are 1-sigma, arcsec)."""

    path_widths: float | None = None
    major_arcsec: float | None = None
    minor_arcsec: float | None = None
    pa_deg: float | None = None
    position_sigma_arcsec: float | None = None
    basis: str = ""
    reliability: float | None = None


@dataclass(frozen=True)
class Prediction:
    """One ``<Event>`` of an occelmnt file.

    Attributes:
        path: the file as the user named it.
        index: 1-based position of the event in the file.
        line: the line of the ``<Event>`` tag.
        event_id: ``<ID>`` field 0 (or ``yyyymmdd_<star>`` when absent).
        prediction_mjd: ``<ID>`` field 1, when given.
        raw: each element's text as read (for the plan's JSON).
    """

    path: str
    index: int
    line: int
    event_id: str
    elements: Elements
    earth: EarthInfo
    star: StarInfo
    object: ObjectInfo
    errors: ErrorInfo
    prediction_mjd: float | None = None
    raw: tuple[tuple[str, str], ...] = ()

    @property
    def asteroid(self) -> str:
        """``(2731) Cucula``, or the name alone when there is no number."""
        number, name = self.object.number.strip(), self.object.name.strip()
        if number and name:
            return f"({number}) {name}"
        return name or number or "unnamed object"

    @property
    def where(self) -> str:
        """``file: event 3 (ID 20260209_4855.6, line 12)`` for messages."""
        return f"{self.path}: event {self.index} ({self.event_id}, line {self.line})"


@dataclass(frozen=True)
class Feed:
    """The readable events of a file, in file order, and warnings about the unreadable ones."""

    predictions: tuple[Prediction, ...]
    warnings: tuple[str, ...] = ()


def is_occelmnt_text(head: str) -> bool:
    """True when the start of a text looks like an occelmnt document (``<Occultations>``)."""
    stripped = head.lstrip("\ufeff \t\r\n")
    return stripped.startswith("<") and "<Occultations" in head[:4096]


class _FieldProblem(ValueError):
    """A field that cannot be read; caught and turned into a PredictionFormatError."""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _FieldProblem(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _FieldProblem(f"{text!r} is not a finite number")
    return value


def _integer(text: str) -> int:
    value = _number(text)
    if value != int(value):
        raise _FieldProblem(f"{text!r} is not a whole number")
    return int(value)


def _flag(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "k", "yes"):
        return True
    if low in ("false", "0", "", "no"):
        return False
    raise _FieldProblem(f"{text!r} is not a flag (True/False or 1/0)")


def _text(text: str) -> str:
    value = text.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _FieldProblem(f"{value[:40]!r} contains a control character")
    if len(value) > 200:
        raise _FieldProblem(f"{value[:40]!r}... is longer than 200 characters")
    return value


def _in(low: float, high: float, parse: Callable[[str], Any] = _number) -> Callable[[str], Any]:
    """``parse``, then refuse a value outside ``[low, high]`` (a typo or a corrupt file)."""

    def checked(text: str) -> Any:
        value = parse(text)
        if not low <= value <= high:
            raise _FieldProblem(f"{text!r} is out of range: expected {low:g} to {high:g}")
        return value

    return checked


def _longitude(text: str) -> float:
    """East-positive degrees, ±360 read, stored in (-180, 180]."""
    return normalise_longitude(_in(-360.0, 360.0)(text))


_Spec = Sequence[tuple[str, Callable[[str], Any], Any]]
_PLANE = 1e4  # Earth radii (per hour, per hour²...): shadow elements beyond this are corrupt
_MAG = _in(-30.0, 40.0)

_ELEMENTS: _Spec = (
    ("source", _text, ""),
    ("max duration", _in(0.0, 86400.0), None),
    ("year", _in(1900, 2200, _integer), _MISSING),
    ("month", _in(1, 12, _integer), _MISSING),
    ("day", _in(1, 31, _integer), _MISSING),
    ("UT", _number, _MISSING),
    ("X", _in(-_PLANE, _PLANE), _MISSING),
    ("Y", _in(-_PLANE, _PLANE), _MISSING),
    ("dX", _in(-_PLANE, _PLANE), _MISSING),
    ("dY", _in(-_PLANE, _PLANE), _MISSING),
    ("d2X", _in(-_PLANE, _PLANE), 0.0),
    ("d2Y", _in(-_PLANE, _PLANE), 0.0),
    ("d3X", _in(-_PLANE, _PLANE), 0.0),
    ("d3Y", _in(-_PLANE, _PLANE), 0.0),
)
_EARTH: _Spec = (
    ("substellar longitude", _longitude, None),
    ("substellar latitude", _in(-90.0, 90.0), None),
    ("subsolar longitude", _longitude, None),
    ("subsolar latitude", _in(-90.0, 90.0), None),
    ("JWST", _flag, False),
)
_STAR: _Spec = (
    ("id", _text, _MISSING),
    ("RA", _number, _MISSING),
    ("Dec", _number, _MISSING),
    ("Mb", _MAG, None),
    ("Mv", _MAG, None),
    ("Mr", _MAG, None),
    ("diameter", _in(0.0, 1e6), 0.0),
    ("double-star code", _in(-1000, 1000, _integer), 0),
    ("K2 flag", _flag, False),
    ("apparent RA", _in(0.0, 24.0), None),
    ("apparent Dec", _in(-90.0, 90.0), None),
    ("mag drop V", _in(0.0, 40.0), None),
    ("mag drop R", _in(0.0, 40.0), None),
    ("drops adjusted", _flag, False),
    ("bright nearby stars", _in(-1, 1_000_000, _integer), -1),
    ("all nearby stars", _in(-1, 1_000_000, _integer), -1),
)
_OBJECT: _Spec = (
    ("number", _text, ""),
    ("name", _text, ""),
    ("magnitude", _MAG, None),
    ("diameter", _in(0.0, 200_000.0), _MISSING),
    ("distance", _in(0.0, 1e6), None),
    ("rings", _in(0, 1000, _integer), 0),
    ("moons", _in(0, 1000, _integer), 0),
    ("dRA", _in(-1e7, 1e7), None),
    ("dDec", _in(-1e7, 1e7), None),
    ("taxonomy", _text, ""),
    ("diameter uncertainty", _in(0.0, 200_000.0), None),
    ("moon in planet shadow", _flag, False),
    ("MagV", _MAG, None),
    ("MagR", _MAG, None),
)
_ERRORS: _Spec = (
    ("path widths", _in(0.0, 1e6), None),
    ("major axis", _in(0.0, 1e6), None),
    ("minor axis", _in(0.0, 1e6), None),
    ("PA", _in(-360.0, 360.0), None),
    ("1-sigma position", _in(0.0, 1e6), None),
    ("basis", _text, ""),
    ("reliability", _in(-1e6, 1e6), None),
)


def _fields(text: str | None, spec: _Spec, element: str) -> list[Any]:
    """Values by index; an empty or absent trailing field takes the spec's default."""
    cells = [] if text is None else text.strip().split(",")
    values = []
    for i, (label, parse, default) in enumerate(spec):
        cell = cells[i].strip() if i < len(cells) else ""
        if cell == "":
            if default is _MISSING:
                raise PredictionFormatError(
                    f"<{element}> field {i} ({label}) is missing: the element has "
                    f"{len(cells)} field(s)"
                )
            values.append(default)
            continue
        try:
            values.append(parse(cell))
        except _FieldProblem as exc:
            raise PredictionFormatError(f"<{element}> field {i} ({label}): {exc}") from None
    return values


def _closest_approach(year: int, month: int, day: int, ut_hours: float) -> datetime:
    if not 0.0 <= ut_hours < 48.0:
        raise PredictionFormatError(f"<Elements> field 5 (UT): {ut_hours} is not an hour of day")
    try:
        midnight = datetime(year, month, day, tzinfo=timezone.utc)
    except ValueError as exc:
        raise PredictionFormatError(f"<Elements> fields 2-4 (date): {exc}") from None
    # Round to the microsecond: decimal hours carry ~0.1 ms at 7 decimals.
    return midnight + timedelta(microseconds=round(ut_hours * 3.6e9))


_RAW_TAGS = ("Elements", "Earth", "Star", "Object", "Errors", "ID")


def _texts(event: Any) -> dict[str, str]:
    """Each child element's text by tag (the first of a tag wins)."""
    texts: dict[str, str] = {}
    for child in event:
        if isinstance(child.tag, str) and child.tag not in texts:
            texts[child.tag] = child.text or ""
    return texts


def _required(texts: dict[str, str], tag: str) -> str:
    if tag not in texts:
        raise PredictionFormatError(f"<{tag}> element is missing")
    return texts[tag]


def _parse_event(event: Any, path: str, index: int) -> Prediction:
    """One ``<Event>`` → Prediction; PredictionFormatError names the element and field."""
    texts = _texts(event)
    raw = tuple((tag, texts[tag].strip()) for tag in _RAW_TAGS if tag in texts)
    el = _fields(_required(texts, "Elements"), _ELEMENTS, "Elements")
    elements = Elements(el[0], el[1], _closest_approach(el[2], el[3], el[4], el[5]), *el[6:])
    if el[1] is not None and el[1] < 0:
        raise PredictionFormatError(f"<Elements> field 1 (max duration): {el[1]} is negative")
    if math.hypot(elements.dx, elements.dy) == 0.0:
        raise PredictionFormatError("<Elements> fields 8-9 (dX, dY): the shadow does not move")
    star = StarInfo(*_fields(_required(texts, "Star"), _STAR, "Star"))
    if not (0.0 <= star.ra_hours < 24.0 and -90.0 <= star.dec_deg <= 90.0):
        raise PredictionFormatError(
            f"<Star> fields 1-2 (RA, Dec): {star.ra_hours} h, {star.dec_deg}° is not a sky position"
        )
    obj = ObjectInfo(*_fields(_required(texts, "Object"), _OBJECT, "Object"))
    if obj.diameter_km <= 0:
        raise PredictionFormatError(
            f"<Object> field 3 (diameter): {obj.diameter_km} km must be positive"
        )
    earth = EarthInfo(*_fields(texts.get("Earth"), _EARTH, "Earth"))
    errors = ErrorInfo(*_fields(texts.get("Errors"), _ERRORS, "Errors"))
    id_cells = texts.get("ID", "").strip().split(",")
    try:
        given_id = _text(id_cells[0])
    except _FieldProblem as exc:
        raise PredictionFormatError(f"<ID> field 0 (event ID): {exc}") from None
    event_id = given_id or (f"{elements.closest_approach:%Y%m%d}_{star.star_id[-6:]}")
    mjd = None
    if len(id_cells) > 1 and id_cells[1].strip():
        try:
            mjd = _number(id_cells[1].strip())
        except _FieldProblem as exc:
            raise PredictionFormatError(f"<ID> field 1 (prediction MJD): {exc}") from None
    return Prediction(
        path=path,
        index=index,
        line=int(event.sourceline or 0),
        event_id=event_id,
        elements=elements,
        earth=earth,
        star=star,
        object=obj,
        errors=errors,
        prediction_mjd=mjd,
        raw=raw,
    )


def _root(data: bytes, path: str) -> Any:
    from lxml import etree  # here: a CSV plan only asks is_occelmnt_text, and lxml costs 40 ms

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else "?"
        raise PredictionFormatError(
            f"{path}:{line}: not well-formed XML ({' '.join(str(exc.msg).split())}); an "
            "occelmnt file is <Occultations><Event>…</Event>"
            "</Occultations>"
        ) from exc
    if root.tag != "Occultations":
        raise PredictionFormatError(
            f"{path}:{root.sourceline}: the root element is <{root.tag}>,"
            " not <Occultations>: this is not an occelmnt file"
        )
    return root


def read_occelmnt(data: bytes | str, path: str) -> Feed:
    """Read every ``<Event>`` of an occelmnt document.

    Args:
        data: the file's content (bytes are decoded by the XML declaration, UTF-8 by default).
        path: the file name for messages.

    Returns:
        The readable events, and one warning per unreadable event.

    Raises:
        PredictionFormatError: the file is not occelmnt XML, holds no event, or none of its
            events can be read (every problem listed, each naming the event and element).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    root = _root(raw, path)
    events = [e for e in root if isinstance(e.tag, str) and e.tag == "Event"]
    if not events:
        raise PredictionFormatError(f"{path}: no <Event> in <Occultations>: nothing to read")
    good: list[Prediction] = []
    problems: list[str] = []
    for index, event in enumerate(events, start=1):
        try:
            good.append(_parse_event(event, path, index))
        except PredictionFormatError as exc:
            problems.append(f"{_event_label(event, path, index)}: {exc}")
    if not good:
        raise PredictionFormatError("\n".join(problems))
    return Feed(tuple(good), tuple(f"{p} (event skipped)" for p in problems))


def _event_label(event: Any, path: str, index: int) -> str:
    id_node = event.find("ID")
    ident = "" if id_node is None else "".join(id_node.itertext()).split(",")[0].strip()
    if not ident.isprintable():  # a line break or control character: keep the message one line
        ident = repr(ident)[1:-1]
    label = f"{path}: event {index}"
    if ident:
        label += f" ({ident}, line {event.sourceline})"
    else:
        label += f" (line {event.sourceline})"
    return label
