"""Field formats shared by the report writers and parsers: sexagesimal angles, times of day,
and the code letters of the IOTA-ES form and Occult's archive. Pure.

Rounding is done once on an integer count (tenths of an arcsecond, hundredths of a second) so
that a value never prints as ``60.0`` seconds, and the parsers invert exactly what is written.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

__all__ = [
    "MARK",
    "MONTHS",
    "TELESCOPE_CODES",
    "METHOD_CODES",
    "TIME_SOURCE_CODES",
    "dms",
    "parse_dms",
    "seconds_of_day",
    "hms",
    "parse_hms",
    "clean",
    "accuracy",
]

MARK = "<fill in>"
"""What the writers put where the observer must still give a value (never a guess)."""

MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

# Settings vocabulary -> the form's code (IOTA-ES 2.03 = Occult asteroid observations).
TELESCOPE_CODES = {
    "refractor": "1", "newtonian": "2", "sct": "3", "dobsonian": "4", "binoculars": "5",
    "other": "6", "none": "7", "electronic": "8",
}  # fmt: skip
METHOD_CODES = {
    "video": "a", "dslr-video": "b", "photometer": "c", "images": "d", "drift-scan": "e",
    "visual": "f", "other": "g",
}  # fmt: skip
TIME_SOURCE_CODES = {
    "gps": "a", "ntp": "b", "telephone": "c", "radio": "d", "internal-clock": "e",
    "stopwatch": "f", "other": "g",
}  # fmt: skip

_DMS = re.compile(r"^\s*([+-])\s*(\d{1,3})\s+(\d{1,2})\s+(\d{1,2}(?:\.\d*)?)\s*$")
_HMS = re.compile(r"^\s*(\d{1,2})[: ]\s*(\d{1,2})[: ]\s*(\d{1,2}(?:\.\d*)?)\s*$")


def dms(value: float, deg_digits: int, *, pad: str = "0") -> str:
    """``±DD MM SS.S`` (``deg_digits`` 2 for latitude, 3 for longitude), to 0.1".

    ``pad`` fills the seconds' tens (``"0"``: ``07.4`` as the IOTA-ES form; ``" "``: `` 7.4``
    as Occult writes it).
    """
    tenths = round(abs(value) * 36000.0)
    d, rest = divmod(tenths, 36000)
    m, s10 = divmod(rest, 600)
    sec = f"{s10 // 10}.{s10 % 10}".rjust(4, pad)
    return f"{'-' if value < 0 else '+'}{d:0{deg_digits}d} {m:02d} {sec}"


def parse_dms(text: str) -> float:
    """Inverse of :func:`dms` (either padding). Raises ValueError on another form."""
    m = _DMS.match(text)
    if not m:
        raise ValueError(f"{text!r} is not ±DD MM SS.S")
    sign = -1.0 if m.group(1) == "-" else 1.0
    return sign * (int(m.group(2)) + int(m.group(3)) / 60.0 + float(m.group(4)) / 3600.0)


def seconds_of_day(t: datetime, day: date) -> float:
    """Seconds from 0h UTC of ``day`` to ``t`` (more than 86400 after midnight)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    return (t - midnight).total_seconds()


def hms(seconds: float, places: int = 2, sep: str = ":", *, pad: str = "0") -> str:
    """``HH:MM:SS.ss`` of seconds from midnight (hours may pass 24), rounded to ``places``.

    Occult writes ``hh mm ss.ss`` with spaces (``sep=" "``, ``pad=" "``).
    """
    scale = 10**places
    units = round(seconds * scale)
    h, rest = divmod(units, 3600 * scale)
    m, s_units = divmod(rest, 60 * scale)
    sec = f"{s_units / scale:.{places}f}".rjust(3 + places if places else 2, pad)
    if pad == " ":
        return f"{h:2d}{sep}{m:2d}{sep}{sec}"
    return f"{h:02d}{sep}{m:02d}{sep}{sec}"


def parse_hms(text: str) -> float:
    """Seconds from midnight of ``HH:MM:SS.ss`` or ``hh mm ss.ss``. Raises ValueError."""
    m = _HMS.match(text)
    if not m:
        raise ValueError(f"{text!r} is not HH:MM:SS.ss")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def clean(text: str, forbidden: str = "|") -> str:
    """One line of free text: line breaks and ``forbidden`` characters become spaces."""
    out = "".join(" " if c in forbidden or c in "\r\n\t" else c for c in text)
    return " ".join(out.split())


def accuracy(seconds: float) -> str:
    """An accuracy in seconds to 0.01 s, never below 0.01 (a bar that rounds to zero would
    claim a perfect time)."""
    return f"{max(round(seconds, 2), 0.01):.2f}"
