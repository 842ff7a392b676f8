"""Frozen settings: site, plan rules, Ekos names, capture and run limits, paths.

Merged once, in this order: defaults < TOML config file < command-line flags, and validated here.
The config file is ``~/.config/ekos-occult/config.toml`` unless ``--config`` names another.
Only :mod:`ekos_occult.cli` calls :func:`load_settings`; everything else receives a ``Settings``.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ekos_occult.errors import ConfigError
from ekos_occult.model import PlanRules, Site

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (Ubuntu 22.04)
    import tomli as tomllib

__all__ = [
    "EkosSettings",
    "CaptureSettings",
    "RunSettings",
    "Settings",
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


def parse_site(text: str, *, origin: str = "--site") -> Site:
    """Parse ``LAT,LON[,ELEV]`` into a Site.

    Raises:
        ConfigError: when the text is not three numbers in range.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise ConfigError(
            f"{origin}: expected LAT,LON,ELEV (e.g. 51.4769,-0.0005,46), got {text!r}."
        )
    try:
        nums = [float(p) for p in parts]
    except ValueError as exc:
        raise ConfigError(f"{origin}: {text!r} is not numbers: expected LAT,LON,ELEV.") from exc
    try:
        return Site(*nums)
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror}.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.") from exc


def _section(data: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{name}] must be a table.")
    return dict(value)


def _apply(obj: Any, values: Mapping[str, Any], where: str) -> Any:
    """Return ``obj`` with ``values`` replaced, checking names and coercing types."""
    known = {f.name: f for f in dataclasses.fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            names = ", ".join(sorted(known))
            raise ConfigError(f"{where}: unknown setting {key!r}; known: {names}.")
        current = getattr(obj, key)
        try:
            changes[key] = _coerce(current, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {key} = {value!r}: {exc}") from exc
    return dataclasses.replace(obj, **changes)


def _coerce(current: Any, value: Any) -> Any:
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if isinstance(current, int) and not isinstance(current, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected a whole number")
        return value
    if isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("expected a number")
        return float(value)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return value
    if isinstance(current, tuple) or current is None:
        if isinstance(value, list):
            return tuple(value)
        return value
    return value


def _validate(s: Settings) -> None:
    bad = [step for step in s.ekos.steps if step not in STEPS]
    if bad:
        raise ConfigError(f"[ekos] steps: unknown {bad}; choose from {', '.join(STEPS)}.")
    if "Track" not in s.ekos.steps:
        raise ConfigError("[ekos] steps must include Track: the mount has to follow the star.")
    if s.ekos.kstars_version not in ("auto", "3.6", "3.7"):
        raise ConfigError(
            f"kstars_version must be auto, 3.6 or 3.7, not {s.ekos.kstars_version!r}."
        )
    if s.rules.lead_s < 0:
        raise ConfigError(f"lead must be zero or more seconds, not {s.rules.lead_s}.")
    if not -90 <= s.rules.min_altitude_deg <= 90:
        raise ConfigError(f"min altitude must be within ±90°, not {s.rules.min_altitude_deg}.")
    if not -90 <= s.rules.max_sun_altitude_deg <= 90:
        raise ConfigError(
            f"max Sun altitude must be within ±90°, not {s.rules.max_sun_altitude_deg}."
        )
    if s.capture.exposure_s <= 0:
        raise ConfigError(f"[capture] exposure_s must be positive, not {s.capture.exposure_s}.")
    if s.capture.frame is not None and len(s.capture.frame) != 4:
        raise ConfigError("[capture] frame must be [x, y, w, h].")


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

    site_tab = _section(data, "site", path) if path else {}
    if site_tab:
        unknown = set(site_tab) - {"lat", "lon", "elevation"}
        if unknown or not {"lat", "lon"} <= set(site_tab):
            raise ConfigError(f"{where}: [site] needs lat, lon and optionally elevation only.")
        try:
            site = Site(
                float(site_tab["lat"]),
                float(site_tab["lon"]),
                float(site_tab.get("elevation", 0.0)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: [site]: {exc}") from exc
        s = dataclasses.replace(s, site=site)
    if path:
        s = dataclasses.replace(
            s,
            rules=_apply(s.rules, _section(data, "plan", path), f"{where} [plan]"),
            ekos=_apply(s.ekos, _section(data, "ekos", path), f"{where} [ekos]"),
            capture=_apply(s.capture, _section(data, "capture", path), f"{where} [capture]"),
            run=_apply(s.run, _section(data, "run", path), f"{where} [run]"),
        )
        paths = _section(data, "paths", path)
        if "out_dir" in paths:
            s = dataclasses.replace(s, out_dir=Path(str(paths["out_dir"])).expanduser())
        if "sandbox_dir" in paths:
            s = dataclasses.replace(s, sandbox_dir=Path(str(paths["sandbox_dir"])).expanduser())

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
