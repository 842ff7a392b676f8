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
    Problems,
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
    problems = Problems()
    unknown = sorted(set(table) - {"lat", "lon", "elevation"})
    if unknown:
        problems.add(
            f"{where}: unknown setting(s) {', '.join(map(repr, unknown))}; "
            "known: lat, lon, elevation."
            + (" ([site] is the old name of [station])" if name == "site" else "")
        )
    missing = [k for k in ("lat", "lon") if k not in table]
    if missing:
        problems.add(f"{where}: {' and '.join(missing)} missing (degrees).")
    nums: dict[str, float] = {}
    for key in ("lat", "lon", "elevation"):
        value = table.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.add(f"{where}: {key} = {show(value)}: expected a number.")
        elif not math.isfinite(value):
            problems.add(f"{where}: {key} = {value!r}: expected a finite number.")
        else:
            nums[key] = float(value)
    problems.raise_any()
    return site_of(nums["lat"], nums["lon"], nums["elevation"], where)


_POSITION_KEYS = {"lat", "lon", "elevation"}


def _read_station(s: Settings, data: Mapping[str, Any], where: str) -> Settings:
    """The site from ``[station]`` (or its old name ``[site]``) and how it was measured.

    Raises:
        ConfigError: both tables hold a position, a key is unknown, or a value is out of range.
    """
    problems = Problems()
    station: dict[str, Any] = {}
    old: dict[str, Any] = {}
    with problems.gather():
        station = table_of(data, "station", where)
    with problems.gather():
        old = table_of(data, "site", where)
    position = {k: v for k, v in station.items() if k in _POSITION_KEYS}
    with problems.gather():
        if old and position:
            raise ConfigError(
                f"{where}: the position is given twice, in [station] and in [site]; [site] is the "
                "old name of [station]: keep only [station] lat, lon, elevation."
            )
        if position:
            s = dataclasses.replace(s, site=_config_site(position, where, "station"))
        elif old:
            s = dataclasses.replace(s, site=_config_site(old, where, "site"))
    rest = {k: v for k, v in station.items() if k not in _POSITION_KEYS}
    try:
        s = dataclasses.replace(s, station=apply(s.station, rest, f"{where} [station]"))
    except ConfigError as exc:
        for line in str(exc).splitlines():
            if "unknown setting" in line:
                line += " (and elevation, lat, lon: the position)"
            problems.add(line)
    problems.raise_any()
    return s


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
    problems = Problems()
    for key in ("remote_record_dir", "record_dir_on_host"):
        value = getattr(indi, key)
        if value and not Path(value).expanduser().is_absolute():
            problems.add(f"{where}: {key} = {value!r}: expected an absolute folder path.")
    mount = indi.mount
    if mount is not None and mount.exists() and not mount.is_dir():
        problems.add(f"{where}: remote_record_dir = {str(mount)!r} is a file, not a folder.")
    if indi.record_dir_on_host and not indi.remote_record_dir:
        problems.add(
            f"{where}: record_dir_on_host is set without remote_record_dir (the folder as "
            "mounted here)."
        )
    problems.raise_any()
    return indi


def _config_camera(
    base: CameraSettings, table: Mapping[str, Any], where: str, problems: Problems
) -> CameraSettings:
    """``[camera]`` keys and ``[camera."INDI name"]`` tables of per-camera delays; a bad key
    or table is added to ``problems`` and left out (the rest is kept, to be checked too)."""
    scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
    cam: CameraSettings = apply(base, scalars, f"{where} [camera]", problems)
    delays = list(cam.delays)
    for name, sub in table.items():
        if not isinstance(sub, dict):
            continue
        with problems.gather():
            delays.append(_camera_delay(name, sub, cam, f"{where} [camera.{name!r}]"))
    return dataclasses.replace(cam, delays=tuple(delays))


def _camera_delay(
    name: str, sub: Mapping[str, Any], cam: CameraSettings, here: str
) -> tuple[str, float, float, str]:
    """One ``[camera."INDI name"]`` table: ``(name, delay s, uncertainty s, sampling)``."""
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
    return name, one.acquisition_delay_s, one.acquisition_delay_uncertainty_s, one.sampling


def _validate(s: Settings) -> None:
    """Checks across settings (each value was checked alone where it entered)."""
    if s.ekos.kstars_version not in KSTARS_VERSION_SETTINGS:
        raise ConfigError(
            f"kstars_version must be auto, 3.6 or 3.7, not {s.ekos.kstars_version!r}."
        )


def _validate_report(s: Settings, where: str, problems: Problems) -> None:
    """Ranges and vocabularies of the report settings ([observer] ... [camera]), each problem
    added to ``problems``."""
    for value, allowed, key in (
        (s.station.position_source, POSITION_SOURCES, "[station] position_source"),
        (s.telescope.type, TELESCOPE_TYPES, "[telescope] type"),
        (s.camera.method, OBSERVING_METHODS, "[camera] method"),
        (s.camera.time_source, TIME_SOURCES, "[camera] time_source"),
    ):
        with problems.gather():
            check_choice(value, allowed, f"{where} {key}")
    with problems.gather():
        check_sampling(s.camera.sampling, f"{where} [camera] sampling")
    country = s.observer.country
    if country and not (2 <= len(country) <= 3 and country.isalpha()):
        problems.add(
            f"{where} [observer] country = {country!r}: expected a 2- or 3-letter code "
            "(e.g. DE, AU, USA)."
        )
    email = s.observer.email
    if email and ("@" not in email or any(c.isspace() for c in email)):
        problems.add(f"{where} [observer] email = {email!r}: not an e-mail address.")
    for key in ("name", "second_observer", "email", "address", "nearest_town"):
        value = getattr(s.observer, key)
        if "|" in value or "\n" in value:
            problems.add(
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
        ConfigError: an unreadable file or not TOML (alone); otherwise every problem found
            (unknown sections and keys, wrong types, out-of-range values), one per line, each
            naming the file (or ``command line``), the section and the key.
    """
    path = config_path
    if path is None and default_config is not None and default_config.is_file():
        path = default_config
    data: dict[str, Any] = read_toml(path) if path is not None else {}
    where = str(path) if path else "config"
    s = Settings(config_path=path)
    problems = Problems()  # every problem found, raised together at the end
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        problems.add(
            f"{where}: unknown section(s) or key(s) {', '.join(map(repr, unknown))}; "
            f"known sections: {', '.join(f'[{n}]' for n in SECTIONS)}."
        )
    with problems.gather():
        s = _read_station(s, data, where)
    if path:
        for name, attr in (
            ("plan", "rules"), ("ekos", "ekos"), ("capture", "capture"), ("run", "run"),
            ("observer", "observer"), ("telescope", "telescope"),
        ):  # fmt: skip
            with problems.gather():
                table = table_of(data, name, where)
                record = apply(getattr(s, attr), table, f"{where} [{name}]", problems)
                s = dataclasses.replace(s, **{attr: record})
        with problems.gather():
            s = dataclasses.replace(
                s, indi=_config_indi(table_of(data, "indi", where), f"{where} [indi]")
            )
        with problems.gather():
            camera = table_of(data, "camera", where)
            s = dataclasses.replace(s, camera=_config_camera(s.camera, camera, where, problems))
        paths: dict[str, Any] = {}
        with problems.gather():
            paths = table_of(data, "paths", where)
        unknown = sorted(set(paths) - {"out_dir", "sandbox_dir"})
        if unknown:
            problems.add(
                f"{where} [paths]: unknown setting(s) {', '.join(map(repr, unknown))}; "
                "known: out_dir, sandbox_dir."
            )
        with problems.gather():
            s = dataclasses.replace(s, out_dir=_config_path(paths, "out_dir", where) or s.out_dir)
        with problems.gather():
            sandbox_dir = _config_path(paths, "sandbox_dir", where)
            s = dataclasses.replace(s, sandbox_dir=sandbox_dir or s.sandbox_dir)

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
            with problems.gather():
                s = dataclasses.replace(s, **{section: apply(sub, given, "command line")})
    with problems.gather():
        _validate(s)
    _validate_report(s, where, problems)
    problems.raise_any()
    return s
