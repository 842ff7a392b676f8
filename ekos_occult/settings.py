"""Frozen settings: site, plan rules, Ekos names, capture and run limits, paths.

Merged once, in this order: defaults < TOML config file < command-line flags, and validated here.
The config file is ``~/.config/ekos-occult/config.toml`` unless ``--config`` names another.
Only :mod:`ekos_occult.cli` calls :func:`load_settings`; everything else receives a ``Settings``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ekos_occult.errors import ConfigError
from ekos_occult.model import PlanRules, Site, normalise_longitude

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (Ubuntu 22.04)
    import tomli as tomllib

__all__ = [
    "EkosSettings",
    "CaptureSettings",
    "RunSettings",
    "Settings",
    "LIMITS",
    "STEPS",
    "normalise_longitude",
    "parse_site",
    "load_settings",
]

STEPS = ("Track", "Focus", "Align", "Guide")


@dataclass(frozen=True)
class EkosSettings:
    """How to talk to Ekos and what its jobs contain.

    Attributes:
        profile: the Ekos profile to start (and to name in the .esl).
        kstars_version: ``"auto"`` (detect), ``"3.6"`` or ``"3.7"`` (3.7 and newer format).
        steps: scheduler job steps, a subset of Track/Focus/Align/Guide; Track is always needed.
        call_timeout_s: timeout on every D-Bus call.
        camera: the INDI camera name; empty means "ask Ekos Capture".
    """

    profile: str = "Simulators"
    kstars_version: str = "auto"
    steps: tuple[str, ...] = ("Track", "Align")
    call_timeout_s: float = 10.0
    camera: str = ""


@dataclass(frozen=True)
class CaptureSettings:
    """The control frame Ekos takes for each job (.esq), and optional recording ROI."""

    exposure_s: float = 1.0
    binning: int = 1
    frame: tuple[int, int, int, int] | None = None  # x, y, w, h; None = full frame
    gain: float | None = None
    filter: str = ""
    format: str = "Mono"
    encoding: str = "FITS"


@dataclass(frozen=True)
class RunSettings:
    """Night-supervisor limits.

    Attributes:
        stream_preroll_s: start the video stream this long before record_start.
        late_start_s: a recording that cannot start within this of record_start is missed.
        job_timeout_s: longest an Ekos job may take before it is declared failed.
        disk_margin_bytes: free space kept beyond the estimated recording size.
        record_timestamp_tolerance_s: extra slack when checking SER timestamps vs the window.
        park_at_end: park the mount (Ekos' Mount ``park``) when the night's last event is done;
            not after Ctrl-C/SIGTERM (someone is at the rig then).
    """

    stream_preroll_s: float = 3.0
    late_start_s: float = 10.0
    job_timeout_s: float = 240.0
    disk_margin_bytes: int = 512 * 1024 * 1024
    record_timestamp_tolerance_s: float = 0.25
    park_at_end: bool = True


@dataclass(frozen=True)
class Settings:
    """Everything a command needs, resolved once."""

    site: Site | None = None
    rules: PlanRules = field(default_factory=PlanRules)
    ekos: EkosSettings = field(default_factory=EkosSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    run: RunSettings = field(default_factory=RunSettings)
    out_dir: Path | None = None
    sandbox_dir: Path | None = None
    config_path: Path | None = None

    def require_site(self) -> Site:
        """Return the site or raise a ConfigError that says how to give one."""
        if self.site is None:
            raise ConfigError(
                "No observing site: give --site LAT,LON,ELEV (degrees, east-positive longitude, "
                "metres) or set [site] lat, lon, elevation in the config file"
                + (f" ({self.config_path})." if self.config_path else ".")
            )
        return self.site


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
}
"""Allowed range of each numeric setting (config key and the flag that sets it)."""
_POSITIVE = frozenset({"call_timeout_s", "exposure_s", "job_timeout_s"})  # zero is not allowed
_SECTIONS = ("site", "plan", "ekos", "capture", "run", "paths")
_MAX_PX = 100_000


def parse_site(text: str, *, origin: str = "--site") -> Site:
    """Parse ``LAT,LON[,ELEV]`` into a Site (longitude east-positive, 0-360 read as ±180).

    Raises:
        ConfigError: when the text is not two or three finite numbers in range.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError(
            f"{origin}: expected LAT,LON,ELEV (e.g. -33.9,18.4,10 or 51.4769,-0.0005,46), "
            f"got {text!r}."
        )
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise ConfigError(f"{origin}: {text!r} is not numbers: expected LAT,LON,ELEV.") from exc
    if not all(math.isfinite(n) for n in nums):
        raise ConfigError(f"{origin}: {text!r} is not finite numbers: expected LAT,LON,ELEV.")
    return _site(nums[0], nums[1], nums[2] if len(nums) == 3 else 0.0, origin)


def _site(lat: float, lon: float, elevation: float, origin: str) -> Site:
    if not -360.0 <= lon <= 360.0:
        raise ConfigError(f"{origin}: longitude {lon:g} is not within ±360°.")
    try:
        return Site(lat, normalise_longitude(lon), elevation)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
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


def _section(data: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table, not {value!r}.")
    return dict(value)


def _apply(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    """Return ``obj`` with ``values`` replaced, checking names, types and ranges."""
    known = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(f"{where}: unknown setting {key!r}; known: {names}.")
        try:
            changes[key] = _coerce(key, getattr(obj, key), value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {key} = {_show(value)}: {exc}.") from None
    return dataclasses.replace(obj, **changes)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_text(value: str) -> str:
    bad = [ch for ch in value if ord(ch) < 32 or ord(ch) == 127 or ch in "\ufffe\uffff"]
    if bad:
        raise ValueError(f"contains the control character {bad[0]!r}: expected one line of text")
    if len(value) > 1000:
        raise ValueError("is longer than 1000 characters")
    return value


def _number(key: str, value: Any, *, whole: bool) -> float | int:
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


def _steps(value: Any) -> tuple[str, ...]:
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


def _frame(value: Any) -> tuple[int, int, int, int] | None:
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


def _coerce(key: str, current: Any, value: Any) -> Any:
    if key == "steps":
        return _steps(value)
    if key == "frame":
        return _frame(value)
    if key == "gain":
        return _number(key, value, whole=False)
    if key == "kstars_version":
        if value not in ("auto", "3.6", "3.7"):
            raise ValueError("expected auto, 3.6 or 3.7")
        return value
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if isinstance(current, int):
        return _number(key, value, whole=True)
    if isinstance(current, float):
        return _number(key, value, whole=False)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return _check_text(value)
    raise TypeError(f"cannot be set to {type(value).__name__}")  # pragma: no cover


def _config_site(table: Mapping[str, Any], where: str) -> Site:
    unknown = sorted(set(table) - {"lat", "lon", "elevation"})
    if unknown:
        raise ConfigError(
            f"{where} [site]: unknown setting(s) {', '.join(map(repr, unknown))}; "
            "known: lat, lon, elevation."
        )
    missing = [k for k in ("lat", "lon") if k not in table]
    if missing:
        raise ConfigError(f"{where} [site]: {' and '.join(missing)} missing (degrees).")
    nums: dict[str, float] = {}
    for key in ("lat", "lon", "elevation"):
        value = table.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} [site]: {key} = {_show(value)}: expected a number.")
        if not math.isfinite(value):
            raise ConfigError(f"{where} [site]: {key} = {value!r}: expected a finite number.")
        nums[key] = float(value)
    return _site(nums["lat"], nums["lon"], nums["elevation"], f"{where} [site]")


def _config_path(paths: Mapping[str, Any], key: str, where: str) -> Path | None:
    if key not in paths:
        return None
    value = paths[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} [paths]: {key} = {_show(value)}: expected a folder path.")
    try:
        _check_text(value)
    except ValueError as exc:
        raise ConfigError(f"{where} [paths]: {key} = {_show(value)}: {exc}.") from None
    if "\x00" in value:  # pragma: no cover - caught by _check_text
        raise ConfigError(f"{where} [paths]: {key}: NUL in a path.")
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{where} [paths]: {key} = {value!r} is a file, not a folder.")
    return folder


def _validate(s: Settings) -> None:
    """Checks across settings (each value was checked alone where it entered)."""
    if s.ekos.kstars_version not in ("auto", "3.6", "3.7"):
        raise ConfigError(
            f"kstars_version must be auto, 3.6 or 3.7, not {s.ekos.kstars_version!r}."
        )


def load_settings(
    config_path: Path | None,
    *,
    default_config: Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build Settings from defaults, the TOML file and flag overrides.

    Args:
        config_path: a file named by ``--config`` (must exist), or None.
        default_config: the per-user file, read only if it exists.
        overrides: flag values by section (``site``, ``rules``, ``ekos``, ``capture``, ``run``,
            ``paths``); a ``None`` value means "flag not given".

    Raises:
        ConfigError: for an unreadable file, unknown keys or out-of-range values.
    """
    path = config_path
    if path is None and default_config is not None and default_config.is_file():
        path = default_config
    data: dict[str, Any] = _read_toml(path) if path is not None else {}
    where = str(path) if path else "config"
    s = Settings(config_path=path)
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) or key(s) {', '.join(map(repr, unknown))}; "
            f"known sections: {', '.join(f'[{n}]' for n in _SECTIONS)}."
        )
    site_tab = _section(data, "site", where)
    if site_tab:
        s = dataclasses.replace(s, site=_config_site(site_tab, where))
    if path:
        s = dataclasses.replace(
            s,
            rules=_apply(s.rules, _section(data, "plan", where), f"{where} [plan]"),
            ekos=_apply(s.ekos, _section(data, "ekos", where), f"{where} [ekos]"),
            capture=_apply(s.capture, _section(data, "capture", where), f"{where} [capture]"),
            run=_apply(s.run, _section(data, "run", where), f"{where} [run]"),
        )
        paths = _section(data, "paths", where)
        unknown = sorted(set(paths) - {"out_dir", "sandbox_dir"})
        if unknown:
            raise ConfigError(
                f"{where} [paths]: unknown setting(s) {', '.join(map(repr, unknown))}; "
                "known: out_dir, sandbox_dir."
            )
        out_dir = _config_path(paths, "out_dir", where)
        sandbox_dir = _config_path(paths, "sandbox_dir", where)
        s = dataclasses.replace(
            s, out_dir=out_dir or s.out_dir, sandbox_dir=sandbox_dir or s.sandbox_dir
        )

    for section, values in (overrides or {}).items():
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            continue
        if section == "site":
            s = dataclasses.replace(s, site=given["site"])
        elif section == "paths":
            s = dataclasses.replace(s, **given)
        else:
            sub = {"rules": s.rules, "ekos": s.ekos, "capture": s.capture, "run": s.run}[section]
            s = dataclasses.replace(s, **{section: _apply(sub, given, "command line")})
    _validate(s)
    return s
