"""Every kind of command-line value, checked where it enters: one argparse ``type=`` each.

:func:`seconds`, :func:`altitude`, :func:`count`, :func:`probability`, :func:`number` (a range and
a unit), :func:`pixel_xy`, :func:`roi`, :func:`utc_time`/:func:`utc_date` (ISO 8601, UTC),
:func:`site` (``LAT,LON[,ELEV]``: degrees, metres), :func:`time_zone`, :func:`text`, and paths
(:func:`input_path`, :func:`input_file`, :func:`input_location`, :func:`output_file`,
:func:`output_dir`). Each refuses nan, inf, huge, negative, empty values and control characters
with :class:`argparse.ArgumentTypeError`, so argparse reports ``argument --flag: ...`` and exits 2.
The flags that use them are declared in :mod:`ekos_occult.cli.options`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

from ekos_occult.errors import ConfigError
from ekos_occult.model import Site
from ekos_occult.settings import LIMITS
from ekos_occult.utc import parse_utc

__all__ = [
    "number",
    "seconds",
    "altitude",
    "count",
    "probability",
    "pixel_xy",
    "roi",
    "utc_time",
    "utc_date",
    "site",
    "time_zone",
    "text",
    "input_path",
    "input_location",
    "input_file",
    "output_file",
    "output_dir",
    "MAX_XY_PX",
]

MAX_XY_PX = 100_000.0  # no camera frame is wider; larger pixel coordinates are typos


def _fail(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def _clean(value: str, expected: str) -> str:
    """The value without surrounding blanks; refuses an empty value and control characters."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _fail(f"{value!r} contains a control character: expected {expected}")
    if any("\udc80" <= ch <= "\udcff" for ch in value):  # argv bytes the locale cannot decode
        raise _fail(f"{value!r} is not text in this system's encoding: expected {expected}")
    stripped = value.strip()
    if not stripped:
        raise _fail(f"empty value: expected {expected}")
    return stripped


def _finite(value: str, expected: str) -> float:
    cleaned = _clean(value, expected)
    try:
        x = float(cleaned)
    except ValueError:
        raise _fail(f"{value!r} is not a number: expected {expected}") from None
    if not math.isfinite(x):
        raise _fail(f"{value!r} is not a finite number: expected {expected}")
    return x


def number(
    low: float,
    high: float,
    unit: str,
    *,
    low_open: bool = False,
    name: str = "number",
) -> Callable[[str], float]:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``), e.g. seconds."""
    bound = f"more than {low:g}" if low_open else f"{low:g}"
    expected = f"a {name} from {bound} to {high:g}{unit}"

    def parse(value: str) -> float:
        x = _finite(value, expected)
        if x < low or (low_open and x == low) or x > high:
            raise _fail(f"{value.strip()} is out of range: expected {expected}")
        return x

    parse.__name__ = name
    parse.numeric = True  # type: ignore[attr-defined]
    return parse


def seconds(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """A duration or time offset in seconds within ``[low, high]``."""
    return number(low, high, " s", low_open=low_open, name="number of seconds")


def altitude(value: str) -> float:
    """An altitude in degrees, -90 to 90."""
    lo, hi = LIMITS["min_altitude_deg"]
    return number(lo, hi, "°", name="altitude in degrees")(value)


altitude.numeric = True  # type: ignore[attr-defined]


def count(low: int, high: int, what: str) -> Callable[[str], int]:
    """A whole number within ``[low, high]`` (trials, a seed)."""
    expected = f"a whole number of {what} from {low} to {high}"

    def parse(value: str) -> int:
        cleaned = _clean(value, expected)
        try:
            n = int(cleaned)
        except ValueError:
            raise _fail(f"{value!r} is not a whole number: expected {expected}") from None
        if not low <= n <= high:
            raise _fail(f"{n} is out of range: expected {expected}")
        return n

    parse.__name__ = what
    parse.numeric = True  # type: ignore[attr-defined]
    return parse


def probability(value: str) -> float:
    """A probability strictly between 0 and 1."""
    expected = "a probability between 0 and 1 (e.g. 0.001)"
    p = _finite(value, expected)
    if not 0.0 < p < 1.0:
        raise _fail(f"{value.strip()} is out of range: expected {expected}")
    return p


probability.numeric = True  # type: ignore[attr-defined]


def pixel_xy(value: str) -> tuple[float, float]:
    """``X,Y``: a pixel position (two numbers, 0 to 100 000)."""
    expected = "X,Y: two pixel coordinates from 0 to 100000, e.g. 320,240"
    parts = _clean(value, expected).split(",")
    if len(parts) != 2:
        raise _fail(f"{value!r} is not {expected}")
    x, y = (_finite(p, expected) for p in parts)
    if not (0.0 <= x <= MAX_XY_PX and 0.0 <= y <= MAX_XY_PX):
        raise _fail(f"{value.strip()} is outside the frame: expected {expected}")
    return x, y


def roi(value: str) -> tuple[int, int, int, int]:
    """``X,Y,W,H``: a subframe in pixels (position >= 0, size > 0, at most 100 000)."""
    expected = "X,Y,W,H in whole pixels, position >= 0 and size > 0 (e.g. 0,0,640,480)"
    parts = _clean(value, expected).split(",")
    try:
        x, y, w, h = (int(p.strip()) for p in parts)
    except ValueError:
        raise _fail(f"{value!r} is not {expected}") from None
    if min(x, y) < 0 or min(w, h) <= 0 or max(x + w, y + h) > MAX_XY_PX:
        raise _fail(f"{value.strip()} is out of range: expected {expected}")
    return x, y, w, h


def utc_time(value: str) -> datetime:
    """An ISO 8601 time (no offset means UTC) between 1900 and 2200, as aware UTC."""
    expected = "an ISO 8601 time such as 2026-02-09T21:30:00 (UTC) or 2026-02-09T22:30+01:00"
    cleaned = _clean(value, expected)
    try:
        t = parse_utc(cleaned)
    except ValueError:
        raise _fail(f"{value!r} is not {expected}") from None
    if not 1900 <= t.year <= 2200:
        raise _fail(f"{value!r} is not within the years 1900-2200: expected {expected}")
    return t


def utc_date(value: str) -> date:
    """A UTC date ``YYYY-MM-DD`` between 1900 and 2200."""
    expected = "a date YYYY-MM-DD between 1900 and 2200"
    cleaned = _clean(value, expected)
    try:
        d = date.fromisoformat(cleaned)
    except ValueError:
        raise _fail(f"{value!r} is not {expected}") from None
    if not 1900 <= d.year <= 2200:
        raise _fail(f"{value!r} is not {expected}")
    return d


def site(value: str) -> Site:
    """``LAT,LON[,ELEV]``: degrees (east-positive longitude, 0-360 also read) and metres."""
    from ekos_occult.settings import parse_site

    expected = "LAT,LON[,ELEV], e.g. -33.9,18.4,10 (degrees, east-positive longitude, metres)"
    try:
        return parse_site(_clean(value, expected), origin="")
    except ConfigError as exc:
        raise _fail(str(exc).removeprefix(": ")) from None


_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$|^([+-]?\d+(?:\.\d+)?)$")


def time_zone(value: str) -> tzinfo:
    """``UTC``, an offset (``+02:00``, ``-5``, ``5.5`` hours, within 14 h) or a zone name."""
    expected = "an offset (+02:00, -5, 5.5) or a time zone name (e.g. Europe/Berlin)"
    cleaned = _clean(value, expected)
    if cleaned.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    match = _OFFSET.match(cleaned)
    if match:
        if match.group(4) is not None:
            hours = float(match.group(4))
        else:
            sign = -1.0 if match.group(1) == "-" else 1.0
            minutes = int(match.group(3) or 0)
            if minutes >= 60:
                raise _fail(f"{value!r}: minutes must be below 60: expected {expected}")
            hours = sign * (int(match.group(2)) + minutes / 60.0)
        if abs(hours) > 14.0:
            raise _fail(f"{value!r} is more than 14 hours from UTC: expected {expected}")
        return timezone(timedelta(hours=hours))
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise _fail(f"{value!r} is not {expected}") from None


def text(value: str) -> str:
    """A one-line, non-empty text (a name to match, a column name)."""
    return _clean(value, "a one-line, non-empty text")


def input_path(value: str) -> str:
    """A file or folder to read, or ``-`` (standard input), as given.

    A path the system cannot even look up (a name too long, a control character) is refused
    here, naming the argument; a missing file is left to the command, which says so.
    """
    if value == "-":
        return value
    if not value.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise _fail(f"{value!r} is not a file name")
    try:
        os.stat(Path(value).expanduser())
    except (FileNotFoundError, NotADirectoryError):
        pass
    except (OSError, RuntimeError) as exc:
        raise _fail(f"{value[:60]!r}: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:  # an embedded NUL
        raise _fail(f"{value[:60]!r} is not a file name: {exc}") from None
    return value


def input_location(value: str) -> Path:
    """:func:`input_path` as a Path (a file or a folder to read)."""
    return Path(input_path(value)).expanduser()


def input_file(value: str) -> Path:
    """A file to read (``--kstarsrc``): a path that is not a folder (a missing file may be fine)."""
    try:
        path = Path(_clean(value, "a file path")).expanduser()
        if path.is_dir():
            raise _fail(f"{path} is a folder: expected a file")
        return path
    except (OSError, RuntimeError) as exc:  # a name too long; ~user unknown
        raise _fail(f"{value[:60]!r}: {getattr(exc, 'strerror', None) or exc}") from None


def _writable_dir(folder: Path, what: str) -> None:
    if not folder.exists():
        raise _fail(f"the folder {folder} does not exist: create it first, or {what}")
    if not folder.is_dir():
        raise _fail(f"{folder} is a file, not a folder: {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _fail(f"the folder {folder} is not writable: {what}")


def output_file(suffix: str | None = None) -> Callable[[str], Path]:
    """A file to write: its folder exists and is writable, it is not a folder; ``suffix`` given.

    Checked when the flag is read, so that nothing is written when another output is wrong.
    """

    def parse(value: str) -> Path:
        try:
            what = f"a file path{f' ending in {suffix}' if suffix else ''} in a writable folder"
            path = Path(_clean(value, what)).expanduser()
            if suffix is not None and path.suffix.lower() != suffix:
                raise _fail(f"{path} must end in {suffix}")
            if path.is_dir():
                raise _fail(f"{path} is a folder: expected {what}")
            if path.exists() and not os.access(path, os.W_OK):
                raise _fail(f"{path} exists and is not writable: choose another file")
            _writable_dir(path.parent, "choose another file")
            return path
        except (OSError, RuntimeError) as exc:  # a name too long; ~user unknown
            raise _fail(f"{value[:60]!r}: {getattr(exc, 'strerror', None) or exc}") from None

    parse.__name__ = "output file"
    return parse


def output_dir(value: str) -> Path:
    """A folder to write into (created if missing): not a file, below a writable folder."""
    try:
        path = Path(_clean(value, "a folder path")).expanduser()
        if path.exists() and not path.is_dir():
            raise _fail(f"{path} is a file, not a folder: choose a folder")
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise _fail(f"{existing} is a file, so {path} cannot be created: choose another folder")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise _fail(f"the folder {existing} is not writable: choose another folder")
        return path
    except (OSError, RuntimeError) as exc:  # a name too long; ~user unknown
        raise _fail(f"{value[:60]!r}: {getattr(exc, 'strerror', None) or exc}") from None
