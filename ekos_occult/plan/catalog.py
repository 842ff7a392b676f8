"""Events CSV text → :class:`~ekos_occult.model.OccultationEvent` records.

Maps columns (case-insensitive, trimmed), parses UTC times and both coordinate forms, and reports
every problem of the file at once as ``FILE:LINE: column 'x': what is wrong, what was expected``.
Pure: takes the text and the name to quote in messages, reads no file.

The classic format is ``name,ra,dec,start,duration,mag``:

* ``ra``/``dec``: decimal degrees (ICRS/J2000), or sexagesimal ``08:20:54.1``/``-06:12:00``, where a
  sexagesimal RA is in hours; a column ``ra_h`` holds decimal (or sexagesimal) hours instead.
* ``start``: the UTC time the recording starts; ``epoch`` or ``time`` instead gives the predicted
  central time and the recording is centred on it. ISO 8601; without an offset a time is UTC,
  with an offset it is converted to UTC.
* ``duration``: recording length in seconds; ``mag``: the star's magnitude.
* Optional: ``priority`` (whole number, default 0), ``exposure`` (s), ``event_duration`` (s),
  ``asteroid``, ``id``. Other columns are ignored with one warning naming them.
"""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from ekos_occult.errors import CsvFormatError, CsvProblem
from ekos_occult.model import InvalidRow, OccultationEvent
from ekos_occult.utc import parse_utc

__all__ = ["Catalog", "read_events", "CLASSIC_HEADER", "KNOWN_COLUMNS"]

CLASSIC_HEADER = "name,ra,dec,start,duration,mag"
_TIME_COLUMNS = ("start", "epoch", "time")
_REQUIRED = ("name", "dec", "duration", "mag")
_OPTIONAL = ("priority", "exposure", "event_duration", "asteroid", "id")
KNOWN_COLUMNS = frozenset(
    ("name", "ra", "ra_h", "dec", *_TIME_COLUMNS, "duration", "mag", *_OPTIONAL)
)
_OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}
# Outside these years Earth-orientation and leap-second models are guesses: surely a typo.
_FIRST_YEAR, _LAST_YEAR = 1900, 2200
_MAX_DURATION_S = 86400.0
_MAX_NAME = 200  # characters; the name becomes an Ekos job and file name
_MAX_PRIORITY = 1_000_000
_SEXAGESIMAL = re.compile(r"[:\sdhms°'\"]")

T = TypeVar("T")


@dataclass(frozen=True)
class Catalog:
    """What was read from an events CSV.

    Attributes:
        events: the valid events, in file order.
        invalid: rows that could not be read (only with ``skip_invalid``; otherwise an error).
        warnings: sentences for the user that do not stop the plan (e.g. ignored columns).
    """

    events: tuple[OccultationEvent, ...]
    invalid: tuple[InvalidRow, ...] = ()
    warnings: tuple[str, ...] = ()


class _FieldError(ValueError):
    """A cell's value is wrong; the message says what was expected."""


@dataclass(frozen=True)
class _Columns:
    """Where each known column is in the header (0-based index)."""

    index: dict[str, int]
    ra_column: str  # "ra" or "ra_h"
    time_column: str  # "start", "epoch" or "time"
    width: int


def read_events(text: str, path: str, *, skip_invalid: bool = False) -> Catalog:
    """Read the nightly events CSV.

    Args:
        text: the whole file as text (a leading byte-order mark and CRLF line ends are fine).
        path: the file name to quote in messages.
        skip_invalid: keep going past bad rows and return them in ``Catalog.invalid`` instead of
            raising. Problems with the file as a whole (empty, no header, wrong delimiter, missing
            columns) are always raised.

    Returns:
        The events, the invalid rows and the warnings.

    Raises:
        CsvFormatError: listing every problem found, each with file, line and column.
    """
    header_line, header, rows = _split_rows(text, path)
    columns, warns = _map_header(header, header_line, path)
    events: list[OccultationEvent] = []
    invalid: list[InvalidRow] = []
    problems: list[CsvProblem] = []
    seen: dict[str, tuple[str, int]] = {}
    for line, cells in rows:
        event, row_problems = _parse_row(cells, line, columns, path)
        if event is not None:
            duplicate = _duplicate_problem(event, seen, path)
            if duplicate is None:
                events.append(event)
                continue
            row_problems.append(duplicate)
        problems.extend(row_problems)
        name = _cell(cells, columns, "name") or None
        invalid.append(InvalidRow(line, name, tuple(str(p) for p in row_problems)))
    if problems and not skip_invalid:
        raise CsvFormatError(problems)
    if not rows:
        warns.append(f"{path}: the file has a header but no events.")
    return Catalog(tuple(events), tuple(invalid), tuple(warns))


def _duplicate_problem(
    event: OccultationEvent, seen: dict[str, tuple[str, int]], path: str
) -> CsvProblem | None:
    """A problem if the name was used before (ignoring case); else remember it."""
    first = seen.setdefault(event.name.casefold(), (event.name, event.line))
    if first[1] == event.line:
        return None
    return CsvProblem(
        path,
        event.line,
        "name",
        f"duplicate name {event.name!r} (already used by {first[0]!r} on line "
        f"{first[1]}; names are compared ignoring case): each event needs its own "
        "name because it names the Ekos job and the recording files",
    )


def _split_rows(text: str, path: str) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """Split the text into the header and the data rows, skipping blank and ``#`` lines.

    Returns:
        The header's line number, its cells, and ``(line, cells)`` for each data row.
    """
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    header: list[str] | None = None
    header_line = 0
    rows: list[tuple[int, list[str]]] = []
    previous_end = 0
    last: tuple[int, bool] | None = None  # the last row read: its line, and could it hold a quote
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a cell over the csv module's size limit, a stray NUL
            raise CsvFormatError(
                [
                    CsvProblem(
                        path,
                        previous_end + 1,
                        None,
                        f"cannot be read as CSV ({exc}): check for an unclosed quote",
                    )
                ]
            ) from None
        line = previous_end + 1
        previous_end = reader.line_num
        short = header is not None and len(cells) < len(header)
        last = (line, previous_end > line or short)
        if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header, header_line = cells, line
        else:
            rows.append((line, cells))
    if last is not None and last[1] and _unclosed_quote(text, last[0]):
        # A quote opened and never closed swallows every line after it: the last row read.
        raise CsvFormatError(
            [
                CsvProblem(
                    path,
                    last[0],
                    None,
                    'a quote (") opened on this line is never closed: it runs on to the '
                    "end of the file. Close the quote, or remove it",
                )
            ]
        )
    if header is None:
        raise CsvFormatError(
            [
                CsvProblem(
                    path,
                    1,
                    None,
                    f"the file is empty: expected a header line such as '{CLASSIC_HEADER}' "
                    "and then one event per line",
                )
            ]
        )
    return header_line, header, rows


def _unclosed_quote(text: str, line: int) -> bool:
    """Whether the row starting on ``line`` (1-based) opens a quote that the file never closes
    (the csv module, strict, reads the end of the data inside it)."""
    rest = "".join(text.splitlines(keepends=True)[line - 1 :])
    try:
        next(csv.reader(io.StringIO(rest, newline=""), strict=True), None)
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _map_header(header: list[str], line: int, path: str) -> tuple[_Columns, list[str]]:
    """Find the known columns in the header.

    Raises:
        CsvFormatError: no header, wrong delimiter, duplicate or missing columns.
    """
    names = [h.strip().lower().removeprefix("\ufeff") for h in header]
    while names and not names[-1]:  # Excel writes 'mag,,,' for formatted empty columns
        names.pop()
    header = header[: len(names)]
    _check_header_shape(header, names, line, path)
    problems: list[CsvProblem] = []
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            continue  # an unnamed column: ignored (with a warning below)
        if name in index:
            problems.append(
                CsvProblem(
                    path, line, name, "appears twice in the header: each column may be given once"
                )
            )
        index.setdefault(name, i)
    ra_column = _pick_one(index, ("ra", "ra_h"), "right ascension", line, path, problems)
    time_column = _pick_one(index, _TIME_COLUMNS, "time", line, path, problems)
    for name in _REQUIRED:
        if name not in index:
            problems.append(
                CsvProblem(
                    path,
                    line,
                    None,
                    f"missing column '{name}' (expected a header such as '{CLASSIC_HEADER}')",
                )
            )
    if problems:
        raise CsvFormatError(problems)
    unknown = [n for n in names if n and n not in KNOWN_COLUMNS]
    warns = []
    unnamed = [str(i + 1) for i, n in enumerate(names) if not n]
    if unnamed:
        warns.append(
            f"{path}:{line}: ignoring column(s) {', '.join(unnamed)}: no name in the header."
        )
    if unknown:
        warns.append(
            f"{path}:{line}: ignoring unknown column(s) "
            + ", ".join(repr(n) for n in unknown)
            + f"; known columns are {', '.join(sorted(KNOWN_COLUMNS))}."
        )
    return _Columns(index, ra_column, time_column, len(header)), warns


def _check_header_shape(header: list[str], names: list[str], line: int, path: str) -> None:
    if len(header) == 1:
        for delimiter, label in _OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                raise CsvFormatError(
                    [
                        CsvProblem(
                            path,
                            line,
                            None,
                            f"the columns are separated by {label}, not commas: save the file as "
                            f"comma-separated values with a header such as '{CLASSIC_HEADER}'",
                        )
                    ]
                )
    if not KNOWN_COLUMNS.intersection(names):
        looks_like_data = any(_is_number(n) for n in names)
        what = "the first line looks like data" if looks_like_data else "no known column names"
        raise CsvFormatError(
            [
                CsvProblem(
                    path,
                    line,
                    None,
                    f"no header line ({what}): the first line must name the columns, "
                    f"e.g. '{CLASSIC_HEADER}'",
                )
            ]
        )


def _pick_one(
    index: dict[str, int],
    choices: Sequence[str],
    what: str,
    line: int,
    path: str,
    problems: list[CsvProblem],
) -> str:
    present = [c for c in choices if c in index]
    quoted = " or ".join(f"'{c}'" for c in choices)
    if not present:
        problems.append(
            CsvProblem(
                path,
                line,
                None,
                f"missing {what} column: expected one of {quoted} (e.g. '{CLASSIC_HEADER}')",
            )
        )
        return choices[0]
    if len(present) > 1:
        problems.append(
            CsvProblem(
                path,
                line,
                None,
                f"columns {', '.join(repr(c) for c in present)} all give the "
                f"{what}: keep only one of {quoted}",
            )
        )
    return present[0]


def _cell(cells: list[str], columns: _Columns, name: str) -> str:
    i = columns.index.get(name)
    if i is None or i >= len(cells):
        return ""
    return cells[i].strip()


def _parse_row(
    cells: list[str], line: int, columns: _Columns, path: str
) -> tuple[OccultationEvent | None, list[CsvProblem]]:
    """Parse one data row; return the event (or None) and every problem found in it."""
    problems: list[CsvProblem] = []
    # Short rows are fine (trailing optional cells left out); extra cells are ambiguous.
    if len(cells) > columns.width and any(c.strip() for c in cells[columns.width :]):
        problems.append(
            CsvProblem(
                path,
                line,
                None,
                f"has {len(cells)} fields but the header has only "
                f"{columns.width}: check for an extra comma "
                "(quote names that contain commas)",
            )
        )

    def get(name: str, parse: Callable[[str], T], *, required: bool = True) -> T | None:
        text = _cell(cells, columns, name)
        if not text:
            if required and name in columns.index:
                problems.append(CsvProblem(path, line, name, "is empty: a value is required"))
            return None
        try:
            return parse(text)
        except _FieldError as exc:
            problems.append(CsvProblem(path, line, name, str(exc)))
            return None

    values: dict[str, object] = {
        "name": get("name", _parse_name),
        "ra": get(columns.ra_column, _parse_ra_hours if columns.ra_column == "ra_h" else _parse_ra),
        "dec": get("dec", _parse_dec),
        "time": get(columns.time_column, _parse_time),
        "duration": get("duration", _parse_duration),
        "mag": get("mag", _parse_mag),
        "priority": get("priority", _parse_priority, required=False),
        "exposure": get("exposure", _seconds("exposure"), required=False),
        "event_duration": get("event_duration", _seconds("event duration"), required=False),
        "asteroid": get("asteroid", _parse_name, required=False),
        "id": get("id", _parse_name, required=False),
    }
    if problems:
        return None, problems
    return _make_event(values, cells, columns, line, path, problems), problems


def _make_event(
    values: Mapping[str, object],
    cells: list[str],
    columns: _Columns,
    line: int,
    path: str,
    problems: list[CsvProblem],
) -> OccultationEvent | None:
    duration = float(values["duration"])  # type: ignore[arg-type]
    exposure = values["exposure"]
    if isinstance(exposure, float) and exposure > duration:
        problems.append(
            CsvProblem(
                path,
                line,
                "exposure",
                f"{exposure:g} s is longer than the recording ({duration:g} s):"
                " expected a frame exposure shorter than 'duration'",
            )
        )
        return None
    t = values["time"]
    assert isinstance(t, datetime)
    central = t if columns.time_column != "start" else None
    start = t - timedelta(seconds=duration / 2) if central is not None else t
    fields = {name: cells[i].strip() for name, i in columns.index.items() if i < len(cells)}
    return OccultationEvent(
        name=str(values["name"]),
        ra_deg=float(values["ra"]),  # type: ignore[arg-type]
        dec_deg=float(values["dec"]),  # type: ignore[arg-type]
        record_start=start,
        record_end=start + timedelta(seconds=duration),
        mag=float(values["mag"]),  # type: ignore[arg-type]
        priority=int(values["priority"] or 0),  # type: ignore[call-overload]
        exposure_s=exposure if isinstance(exposure, float) else None,
        event_duration_s=values["event_duration"],  # type: ignore[arg-type]
        central_time=central,
        asteroid=str(values["asteroid"]) if values["asteroid"] else None,
        event_id=str(values["id"]) if values["id"] else None,
        line=line,
        fields=fields,
    )


def _parse_name(text: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 or ch in "\ufffe\uffff" for ch in text):
        raise _FieldError(
            f"{text[:40]!r} contains control characters (e.g. a line break): "
            "expected a one-line event name"
        )
    if len(text) > _MAX_NAME:
        raise _FieldError(
            f"{text[:40]!r}... is {len(text)} characters long: expected an event name of at "
            f"most {_MAX_NAME} characters"
        )
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_number(text: str, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _FieldError(f"{text!r} is not a number: expected {expected}") from None
    if not math.isfinite(value):
        raise _FieldError(f"{text!r} is not a finite number: expected {expected}")
    return value


def _positive(expected: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = _parse_number(text, f"a positive {expected}")
        if value <= 0:
            raise _FieldError(f"{text} is not positive: expected a positive {expected}")
        return value

    return parse


def _seconds(what: str) -> Callable[[str], float]:
    """A positive number of seconds, at most a day (``what`` names it in messages)."""

    def parse(text: str) -> float:
        value = _positive(f"{what} in seconds")(text)
        if value > _MAX_DURATION_S:
            raise _FieldError(
                f"{text} s is longer than a day: expected the {what} in "
                "seconds (e.g. 120), not minutes or hours"
            )
        return value

    return parse


_parse_duration = _seconds("recording length")


def _parse_mag(text: str) -> float:
    value = _parse_number(text, "the star's magnitude, e.g. 11.2")
    if not -30.0 <= value <= 30.0:
        raise _FieldError(f"{text} is not a plausible magnitude: expected -30 to 30")
    return value


def _parse_priority(text: str) -> int:
    expected = f"a whole-number priority from -{_MAX_PRIORITY} to {_MAX_PRIORITY}"
    if len(text) > 20:
        raise _FieldError(f"{text[:20]!r}... is too long: expected {expected}")
    try:
        value = int(text)
    except ValueError:
        raise _FieldError(
            f"{text!r} is not a whole number: expected {expected} (higher wins a conflict; "
            "default 0)"
        ) from None
    if abs(value) > _MAX_PRIORITY:
        raise _FieldError(f"{text} is out of range: expected {expected}")
    return value


def _parse_sexagesimal(text: str, *, hours: bool, expected: str) -> float:
    """Parse ``HH:MM:SS.s``/``±DD:MM:SS.s`` (also with spaces or h/d m s letters) into degrees."""
    if hours and re.search(r"[d°]", text):
        raise _FieldError(f"{text!r} gives degrees in a column of hours: expected {expected}")
    if not hours and "h" in text:
        raise _FieldError(f"{text!r} gives hours in a column of degrees: expected {expected}")
    from astropy import units as u  # lazy: only sexagesimal input needs astropy here
    from astropy.coordinates import Angle

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = float(Angle(text, unit=u.hourangle if hours else u.deg).deg)
        except (ValueError, TypeError):
            raise _FieldError(f"{text!r} is not a valid angle: expected {expected}") from None
    if caught:
        raise _FieldError(f"{text!r}: {caught[0].message}: expected {expected}")
    return value


def _right_ascension(text: str, expected: str, degrees_per_unit: float) -> float:
    """RA in degrees: sexagesimal hours, or a decimal number of ``degrees_per_unit`` each."""
    if _SEXAGESIMAL.search(text.strip().lstrip("+-")):
        value = _parse_sexagesimal(text, hours=True, expected=expected)
    else:
        value = _parse_number(text, expected) * degrees_per_unit
    if not 0.0 <= value < 360.0:
        raise _FieldError(f"{text} is outside the sky: expected {expected}")
    return value


def _parse_ra(text: str) -> float:
    expected = "decimal degrees 0 to 360, or sexagesimal hours HH:MM:SS.s (e.g. 08:20:54.1)"
    return _right_ascension(text, expected, 1.0)


def _parse_ra_hours(text: str) -> float:
    expected = "decimal hours 0 to 24, or sexagesimal HH:MM:SS.s (e.g. 08:20:54.1)"
    return _right_ascension(text, expected, 15.0)


def _parse_dec(text: str) -> float:
    expected = "decimal degrees -90 to +90, or sexagesimal ±DD:MM:SS.s (e.g. -06:12:00)"
    if _SEXAGESIMAL.search(text.strip().lstrip("+-")):
        value = _parse_sexagesimal(text, hours=False, expected=expected)
    else:
        value = _parse_number(text, expected)
    if not -90.0 <= value <= 90.0:
        raise _FieldError(f"{text} is outside ±90°: expected {expected}")
    return value


def _parse_time(text: str) -> datetime:
    """ISO 8601 → aware UTC datetime; without an offset the time is UTC."""
    expected = (
        "an ISO 8601 date and time, e.g. 2023-02-08T23:29:00 (UTC) or 2023-02-09T00:29:00+01:00"
    )
    if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text):
        raise _FieldError(f"{text!r} is not {expected}")
    try:
        t = parse_utc(text)
    except ValueError:
        raise _FieldError(f"{text!r} is not a valid time: expected {expected}") from None
    if not _FIRST_YEAR <= t.year <= _LAST_YEAR:
        raise _FieldError(
            f"{text!r} is not in the years {_FIRST_YEAR}-{_LAST_YEAR}: expected {expected}"
        )
    return t
