"""Building :class:`~ekos_occult.settings.Settings`: defaults < TOML config file < flags.

:func:`load_settings` reads the file (:func:`~ekos_occult.settings.values.read_toml`), knows
its sections (:data:`SECTIONS`), reads each one into its record (the position of ``[station]``
or its old name ``[site]``, ``[indi]``'s folders, ``[camera]`` with its per-camera tables,
``[paths]``), applies the command-line overrides and checks what depends on more than one
value (the report vocabularies, ``[observer]`` country and e-mail).

Raises :class:`~ekos_occult.errors.ConfigError` (exit 2) naming the file, section and key.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ekos_occult.errors import ConfigError
from ekos_occult.model import Site
from ekos_occult.settings.camera import SAMPLINGS, CameraSettings
from ekos_occult.settings.sections import (
    KSTARS_VERSION_SETTINGS,
    OBSERVING_METHODS,
    POSITION_SOURCES,
    TELESCOPE_TYPES,
    TIME_SOURCES,
    IndiSettings,
    Settings,
)
from ekos_occult.settings.values import (
    apply,
    check_choice,
    check_sampling,
    check_text,
    read_toml,
    show,
    site_of,
    table_of,
)

SECTIONS = (
    "station", "site", "observer", "telescope", "camera", "plan", "ekos", "capture", "run",
    "indi", "paths",
)  # fmt: skip


def _config_site(table: Mapping[str, Any], where: str, name: str = "site") -> Site:
    """The position of ``[station]`` (``name``) or of its old name ``[site]``."""
    where = f"{where} [{name}]"
    unknown = sorted(set(table) - {"lat", "lon", "elevation"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(map(repr, unknown))}; "
            "known: lat, lon, elevation."
            + (" ([site] is the old name of [station])" if name == "site" else "")
        )
    missing = [k for k in ("lat", "lon") if k not in table]
    if missing:
        raise ConfigError(f"{where}: {' and '.join(missing)} missing (degrees).")
    nums: dict[str, float] = {}
    for key in ("lat", "lon", "elevation"):
        value = table.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} = {show(value)}: expected a number.")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {key} = {value!r}: expected a finite number.")
        nums[key] = float(value)
    return site_of(nums["lat"], nums["lon"], nums["elevation"], where)


_POSITION_KEYS = {"lat", "lon", "elevation"}


def _read_station(s: Settings, data: Mapping[str, Any], where: str) -> Settings:
    """The site from ``[station]`` (or its old name ``[site]``) and how it was measured.

    Raises:
        ConfigError: both tables hold a position, a key is unknown, or a value is out of range.
    """
    station = table_of(data, "station", where)
    old = table_of(data, "site", where)
    position = {k: v for k, v in station.items() if k in _POSITION_KEYS}
    if old and position:
        raise ConfigError(
            f"{where}: the position is given twice, in [station] and in [site]; [site] is the old "
            "name of [station]: keep only [station] lat, lon, elevation."
        )
    if position:
        s = dataclasses.replace(s, site=_config_site(position, where, "station"))
    elif old:
        s = dataclasses.replace(s, site=_config_site(old, where, "site"))
    rest = {k: v for k, v in station.items() if k not in _POSITION_KEYS}
    try:
        return dataclasses.replace(s, station=apply(s.station, rest, f"{where} [station]"))
    except ConfigError as exc:
        if "unknown setting" in str(exc):
            raise ConfigError(f"{exc} (and elevation, lat, lon: the position)") from None
        raise


def _config_path(paths: Mapping[str, Any], key: str, where: str) -> Path | None:
    if key not in paths:
        return None
    value = paths[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} [paths]: {key} = {show(value)}: expected a folder path.")
    try:
        check_text(value)
    except ValueError as exc:
        raise ConfigError(f"{where} [paths]: {key} = {show(value)}: {exc}.") from None
    if "\x00" in value:  # pragma: no cover - caught by check_text
        raise ConfigError(f"{where} [paths]: {key}: NUL in a path.")
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{where} [paths]: {key} = {value!r} is a file, not a folder.")
    return folder


def _config_indi(table: Mapping[str, Any], where: str) -> IndiSettings:
    """``[indi]``: both folders absolute; the mounted one must be a folder when it exists."""
    indi: IndiSettings = apply(IndiSettings(), table, where)
    for key in ("remote_record_dir", "record_dir_on_host"):
        value = getattr(indi, key)
        if value and not Path(value).expanduser().is_absolute():
            raise ConfigError(f"{where}: {key} = {value!r}: expected an absolute folder path.")
    mount = indi.mount
    if mount is not None and mount.exists() and not mount.is_dir():
        raise ConfigError(f"{where}: remote_record_dir = {str(mount)!r} is a file, not a folder.")
    if indi.record_dir_on_host and not indi.remote_record_dir:
        raise ConfigError(
            f"{where}: record_dir_on_host is set without remote_record_dir (the folder as "
            "mounted here)."
        )
    return indi


def _config_camera(base: CameraSettings, table: Mapping[str, Any], where: str) -> CameraSettings:
    """``[camera]`` keys and ``[camera."INDI name"]`` tables of per-camera delays."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    cam: CameraSettings = apply(base, scalars, f"{where} [camera]")
    delays = list(cam.delays)
    for name, sub in table.items():
        if not isinstance(sub, dict):
            continue
        here = f"{where} [camera.{name!r}]"
        try:
            check_text(name)
        except ValueError as exc:
            raise ConfigError(f"{here}: the camera name {exc}.") from None
        keys = {"acquisition_delay_s", "acquisition_delay_uncertainty_s", "sampling"}
        unknown = sorted(set(sub) - keys)
        if unknown or "acquisition_delay_s" not in sub:
            raise ConfigError(
                f"{here}: expected acquisition_delay_s and optionally "
                "acquisition_delay_uncertainty_s (seconds) and sampling "
                f"({' or '.join(SAMPLINGS)})"
                + (f"; unknown: {', '.join(map(repr, unknown))}." if unknown else ".")
            )
        one = apply(
            CameraSettings(acquisition_delay_uncertainty_s=cam.acquisition_delay_uncertainty_s),
            sub,
            here,
        )
        check_sampling(one.sampling, f"{here} sampling")
        delays.append(
            (name, one.acquisition_delay_s, one.acquisition_delay_uncertainty_s, one.sampling)
        )
    return dataclasses.replace(cam, delays=tuple(delays))


def _validate(s: Settings) -> None:
    """Checks across settings (each value was checked alone where it entered)."""
    if s.ekos.kstars_version not in KSTARS_VERSION_SETTINGS:
        raise ConfigError(
            f"kstars_version must be auto, 3.6 or 3.7, not {s.ekos.kstars_version!r}."
        )


def _validate_report(s: Settings, where: str) -> None:
    """Ranges and vocabularies of the report settings ([observer] ... [camera])."""
    check_choice(s.station.position_source, POSITION_SOURCES, f"{where} [station] position_source")
    check_choice(s.telescope.type, TELESCOPE_TYPES, f"{where} [telescope] type")
    check_choice(s.camera.method, OBSERVING_METHODS, f"{where} [camera] method")
    check_choice(s.camera.time_source, TIME_SOURCES, f"{where} [camera] time_source")
    check_sampling(s.camera.sampling, f"{where} [camera] sampling")
    country = s.observer.country
    if country and not (2 <= len(country) <= 3 and country.isalpha()):
        raise ConfigError(
            f"{where} [observer] country = {country!r}: expected a 2- or 3-letter code "
            "(e.g. DE, AU, USA)."
        )
    email = s.observer.email
    if email and ("@" not in email or any(c.isspace() for c in email)):
        raise ConfigError(f"{where} [observer] email = {email!r}: not an e-mail address.")
    for key in ("name", "second_observer", "email", "address", "nearest_town"):
        value = getattr(s.observer, key)
        if "|" in value or "\n" in value:
            raise ConfigError(
                f"{where} [observer] {key}: a '|' or a line break cannot go into a report."
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
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    where = str(path) if path else "config"
    s = Settings(config_path=path)
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) or key(s) {', '.join(map(repr, unknown))}; "
            f"known sections: {', '.join(f'[{n}]' for n in SECTIONS)}."
        )
    s = _read_station(s, data, where)
    if path:
        s = dataclasses.replace(
            s,
            rules=apply(s.rules, table_of(data, "plan", where), f"{where} [plan]"),
            ekos=apply(s.ekos, table_of(data, "ekos", where), f"{where} [ekos]"),
            capture=apply(s.capture, table_of(data, "capture", where), f"{where} [capture]"),
            run=apply(s.run, table_of(data, "run", where), f"{where} [run]"),
            indi=_config_indi(table_of(data, "indi", where), f"{where} [indi]"),
            observer=apply(s.observer, table_of(data, "observer", where), f"{where} [observer]"),
            telescope=apply(
                s.telescope, table_of(data, "telescope", where), f"{where} [telescope]"
            ),
            camera=_config_camera(s.camera, table_of(data, "camera", where), where),
        )
        paths = table_of(data, "paths", where)
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
            s = dataclasses.replace(s, **{section: apply(sub, given, "command line")})
    _validate(s)
    _validate_report(s, where)
    return s
