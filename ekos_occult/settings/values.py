"""Reading the TOML file and checking one value at a time: types, ranges, text, vocabularies.

:func:`read_toml` reads the file (UTF-8, a leading BOM allowed) into a dict; :func:`apply`
puts a table's values into a section record, each checked by :func:`coerce` (numbers against
:data:`LIMITS`, in the setting's unit; text one line, no control characters; ``steps``,
``frame`` ``[x, y, w, h]`` in whole pixels). :func:`parse_site` reads ``LAT,LON[,ELEV]``
(degrees, east-positive longitude, metres). Every problem is a
:class:`~ekos_occult.errors.ConfigError` naming where it came from (file and section, or the
flag).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ekos_occult.errors import ConfigError
from ekos_occult.model import Site, normalise_longitude
from ekos_occult.settings.camera import SAMPLINGS
from ekos_occult.settings.sections import KSTARS_VERSION_SETTINGS, STEPS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (Ubuntu 22.04)
    import tomli as tomllib

LIMITS: dict[str, tuple[float, float]] = {
    "lead_s": (0.0, 86400.0),
    "min_altitude_deg": (-90.0, 90.0),
    "max_sun_altitude_deg": (-90.0, 90.0),
    "call_timeout_s": (0.0, 3600.0),
    "exposure_s": (0.0, 3600.0),
    "binning": (1, 16),
    "gain": (0.0, 1e6),
    "stream_preroll_s": (0.0, 600.0),
    "late_start_s": (0.0, 3600.0),
    "job_timeout_s": (0.0, 86400.0),
    "disk_margin_bytes": (0, 2**50),
    "record_timestamp_tolerance_s": (0.0, 60.0),
    "acquisition_delay_s": (-1.0, 10.0),
    "acquisition_delay_uncertainty_s": (0.0, 10.0),
    "max_clock_error_s": (0.0, 3600.0),
    "aperture_cm": (0.0, 1000.0),
    "focal_length_cm": (0.0, 100000.0),
}
"""Allowed range of each numeric setting (config key and the flag that sets it)."""
# zero is not allowed for these:
_POSITIVE = frozenset({"call_timeout_s", "exposure_s", "job_timeout_s", "max_clock_error_s"})

_MAX_PX = 100_000


def parse_site(text: str, *, origin: str = "--site") -> Site:
    """Parse ``LAT,LON[,ELEV]`` into a Site (longitude east-positive, 0-360 read as ±180).

    Raises:
        ConfigError: when the text is not two or three finite numbers in range.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError(
            f"{origin}: expected LAT,LON[,ELEV] (e.g. -33.9,18.4,10 or 51.4769,-0.0005,46), "
            f"got {text!r}."
        )
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise ConfigError(f"{origin}: {text!r} is not numbers: expected LAT,LON[,ELEV].") from exc
    if not all(math.isfinite(n) for n in nums):
        raise ConfigError(f"{origin}: {text!r} is not finite numbers: expected LAT,LON[,ELEV].")
    return site_of(nums[0], nums[1], nums[2] if len(nums) == 3 else 0.0, origin)


def site_of(lat: float, lon: float, elevation: float, origin: str) -> Site:
    if not -360.0 <= lon <= 360.0:
        raise ConfigError(f"{origin}: longitude {lon:g} is not within ±360°.")
    try:
        return Site(lat, normalise_longitude(lon), elevation)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def read_toml(path: Path) -> dict[str, Any]:
    """The config as a dict: UTF-8 (a leading byte-order mark is fine), TOML."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}.") from exc
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} is not UTF-8 text: "
            "save the config file as UTF-8."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.") from None


def table_of(data: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table, not {value!r}.")
    return dict(value)


def apply(obj: Any, values: Mapping[str, Any], where: str, problems: Problems | None = None) -> Any:
    """Return ``obj`` with ``values`` replaced, checking names, types and ranges.

    With ``problems``, each bad key is added there and left at its value in ``obj`` (the good
    ones are applied, so later checks see them); without, they are raised.

    Raises:
        ConfigError: without ``problems``: one line per bad key (every key is checked).
    """
    known = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    found = Problems() if problems is None else problems
    for key, value in values.items():
        if key not in known:
            names = ", ".join(sorted(known))
            found.add(f"{where}: unknown setting {key!r}; known: {names}.")
            continue
        try:
            changes[key] = coerce(key, getattr(obj, key), value)
        except (TypeError, ValueError) as exc:
            found.add(f"{where}: {key} = {show(value)}: {exc}.")
    if problems is None:
        found.raise_any()
    return dataclasses.replace(obj, **changes)


class Problems:
    """The config problems found so far, raised together as one :class:`ConfigError`.

    Each problem is one line naming the file (or ``command line``), the section and the key, in
    the order found; :meth:`gather` records a step's ConfigError (all its lines) and lets
    reading go on, so one bad value does not hide the next.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append(line)

    @contextmanager
    def gather(self) -> Iterator[None]:
        """Run the ``with`` block; a ConfigError in it is recorded instead of raised."""
        try:
            yield
        except ConfigError as exc:
            self.lines.extend(str(exc).splitlines())

    def raise_any(self) -> None:
        """Raise every problem found, one per line (nothing found: return)."""
        if self.lines:
            raise ConfigError("\n".join(self.lines))


def show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_text(value: str) -> str:
    bad = [ch for ch in value if ord(ch) < 32 or ord(ch) == 127 or ch in "\ufffe\uffff"]
    if bad:
        raise ValueError(f"contains the control character {bad[0]!r}: expected one line of text")
    if len(value) > 1000:
        raise ValueError("is longer than 1000 characters")
    return value


def number(key: str, value: Any, *, whole: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("expected a whole number" if whole else "expected a number")
    if whole and not isinstance(value, int):
        raise TypeError("expected a whole number")
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    if key in LIMITS:
        lo, hi = LIMITS[key]
        if value < lo or value > hi or (key in _POSITIVE and value == lo):
            low = f"more than {lo:g}" if key in _POSITIVE else f"{lo:g}"
            raise ValueError(f"out of range: expected {low} to {hi:g}")
    return value if whole else float(value)


def steps_of(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]  # "Track" or "Track, Align"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"expected a list of steps from {', '.join(STEPS)}")
    bad = [v for v in value if v not in STEPS]
    if bad:
        raise ValueError(f"unknown step(s) {bad}; choose from {', '.join(STEPS)}")
    if "Track" not in value:
        raise ValueError("must include Track: the mount has to follow the star")
    return tuple(dict.fromkeys(value))


def frame_of(value: Any) -> tuple[int, int, int, int] | None:
    if isinstance(value, list) and not value:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise TypeError("expected [x, y, w, h] in whole pixels")
    x, y, w, h = value
    if min(x, y) < 0 or min(w, h) <= 0 or max(x + w, y + h) > _MAX_PX:
        raise ValueError("expected x, y >= 0 and w, h > 0 within 100000 pixels")
    return x, y, w, h


def coerce(key: str, current: Any, value: Any) -> Any:
    if key == "steps":
        return steps_of(value)
    if key == "frame":
        return frame_of(value)
    if key == "gain":
        return number(key, value, whole=False)
    if key == "kstars_version":
        if value not in KSTARS_VERSION_SETTINGS:
            raise ValueError("expected " + ", ".join(KSTARS_VERSION_SETTINGS))
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if isinstance(current, int):
        return number(key, value, whole=True)
    if isinstance(current, float):
        return number(key, value, whole=False)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return check_text(value)
    raise TypeError(f"cannot be set to {type(value).__name__}")  # pragma: no cover


def check_choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value and value not in allowed:
        raise ConfigError(f"{key} = {value!r}: choose one of {', '.join(allowed)}.")


def check_sampling(value: str, key: str) -> None:
    if value not in SAMPLINGS:
        raise ConfigError(f"{key} = {value!r}: choose one of {', '.join(SAMPLINGS)}.")
