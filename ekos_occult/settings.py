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
    "configure_astropy_offline",
    "EkosSettings",
    "CaptureSettings",
    "RunSettings",
    "IndiSettings",
    "ObserverSettings",
    "StationSettings",
    "TelescopeSettings",
    "CameraSettings",
    "CameraDelay",
    "SAMPLINGS",
    "TELESCOPE_TYPES",
    "OBSERVING_METHODS",
    "TIME_SOURCES",
    "POSITION_SOURCES",
    "Settings",
    "LIMITS",
    "STEPS",
    "normalise_longitude",
    "parse_site",
    "load_settings",
]

STEPS = ("Track", "Focus", "Align", "Guide")

# Report vocabularies (IOTA-ES form 2.03 and Occult's asteroid-observation codes; see report/).
TELESCOPE_TYPES = (
    "refractor", "newtonian", "sct", "dobsonian", "binoculars", "other", "none", "electronic"
)  # fmt: skip
OBSERVING_METHODS = (
    "video", "dslr-video", "photometer", "images", "drift-scan", "visual", "other"
)  # fmt: skip
TIME_SOURCES = (
    "gps", "ntp", "telephone", "radio", "internal-clock", "stopwatch", "other"
)  # fmt: skip
POSITION_SOURCES = ("gps", "map", "survey", "other")


KSTARS_VERSION_SETTINGS = ("auto", "3.6", "3.7")
"""``[ekos] kstars_version``: detect, or a file format (the core cannot import
:mod:`ekos_occult.ekosfiles.formats`; ``tests/ekosfiles/test_formats.py`` checks they agree)."""


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
class IndiSettings:
    """``[indi]``: where the recordings of an INDI server on another host can be read here.

    With Ekos in remote mode (INDI Web Manager, StellarMate) INDI writes the SER files on its
    own host. When that host's recordings folder is mounted here (sshfs, NFS, SMB), ``run``
    tells INDI to record into it and checks each file through the mount like a local one.

    Attributes:
        remote_record_dir: the mounted folder, as a path on this machine ("" = no mount: the
            files are judged by INDI's report only).
        record_dir_on_host: the same folder as the INDI host sees it (what INDI's
            ``RECORD_FILE_DIR`` gets); "" = the same path as ``remote_record_dir``.
    """

    remote_record_dir: str = ""
    record_dir_on_host: str = ""

    @property
    def mount(self) -> Path | None:
        """The mounted folder on this machine, or None."""
        return Path(self.remote_record_dir).expanduser() if self.remote_record_dir else None

    @property
    def on_host(self) -> str:
        """The folder as INDI's host names it ("" when no mount is configured)."""
        return self.record_dir_on_host or self.remote_record_dir


@dataclass(frozen=True)
class ObserverSettings:
    """``[observer]``: who observed, for the reports (empty = not given, left for the observer).

    Attributes:
        name: first observer ("Observer1"), as it should appear in the archive.
        second_observer: "Observer2" (optional).
        more_observers: more than two observers took part.
        email, address: contact details for the coordinator (IOTA-ES form).
        nearest_town: the nearest town or city ("NearestCity", Occult's "located near").
        country: 2- or 3-letter country/state code (ISO 3166, e.g. ``DE``, ``AU``).
    """

    name: str = ""
    second_observer: str = ""
    more_observers: bool = False
    email: str = ""
    address: str = ""
    nearest_town: str = ""
    country: str = ""


@dataclass(frozen=True)
class StationSettings:
    """``[station]``: how the station's position (``lat``/``lon``/``elevation`` of the same
    table, kept in :attr:`Settings.site`) was measured.

    Attributes:
        position_source: ``gps``, ``map``, ``survey`` or ``other``; empty = not given.
        name: an optional label for the station (e.g. ``home``).
    """

    position_source: str = ""
    name: str = ""


@dataclass(frozen=True)
class TelescopeSettings:
    """``[telescope]``: the optics (0 / empty = not given, left for the observer).

    Attributes:
        type: one of :data:`TELESCOPE_TYPES`.
        aperture_cm: clear aperture in centimetres.
        focal_length_cm: effective focal length in centimetres.
    """

    type: str = ""
    aperture_cm: float = 0.0
    focal_length_cm: float = 0.0


DEFAULT_ACQUISITION_DELAY_S = 0.0
"""Host-stamp delay beyond one exposure assumed for a camera nobody measured (seconds)."""
DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S = 0.03
"""Its uncertainty: a USB camera's readout, transfer and INDI's queue take 0 to tens of ms."""
SAMPLINGS = ("exposure", "instant")
"""How a camera's frame relates to the sky (``[camera] sampling``); see :class:`CameraDelay`."""


@dataclass(frozen=True)
class CameraDelay:
    """How one camera's host stamps (INDI's recorder write time) lie after the sky they show.

    ``sampling = "exposure"`` (every real camera): the frame integrates the sky over its
    exposure; stamp = start of exposure + exposure + ``delay_s`` (readout, transfer, queueing).

    ``sampling = "instant"`` (the INDI CCD Simulator, whose frame is drawn from the sky at one
    instant, when its ``gsc`` runs): stamp = that instant + the frame's own stamp interval +
    ``delay_s``; ``delay_s`` is then minus the time from the previous frame's stamp to the
    instant (the driver's draw loop restarts right after handing a frame over), so it is
    negative. See ``docs/timing.md``.

    Attributes:
        delay_s: the acquisition delay (seconds).
        uncertainty_s: its 1-sigma (seconds).
        origin: where it came from, in words (``measured for 'CCD Simulator'``, ...).
        sampling: one of :data:`SAMPLINGS`.
    """

    delay_s: float
    uncertainty_s: float
    origin: str
    sampling: str = "exposure"


MEASURED_DELAYS: tuple[tuple[str, float, float, str], ...] = (
    # INDI 1.9.9 CCD Simulator in the sandbox (real stars, 320x240 ROI): it samples the sky at
    # one instant, its gsc call, which starts -DELAY after the previous frame's stamp (the
    # draw loop restarts, sh + Python start). benchmarks/timing_bias.py pairs gsc's logged
    # instants with the SER stamps: median 0.012-0.029 s per recording (0.013-0.018 s in 20 of
    # 24 recordings, 4 runs, load 0.7-4), 90% below 0.054 s but one; docs/timing.md §5.
    ("CCD Simulator", -0.015, 0.01, "instant"),
)
"""(camera, acquisition delay, uncertainty, sampling) measured against a known truth."""


@dataclass(frozen=True)
class CameraSettings:
    """``[camera]``: the recording camera, the clock its timestamps come from, frame timing.

    A host-stamped frame (INDI writes the host time when the frame is written) is stamped one
    exposure plus the *acquisition delay* after its exposure started; reduce subtracts both
    (see :class:`CameraDelay` for an instant-sampling camera such as the CCD Simulator).

    Attributes:
        name: the camera model as reported (e.g. ``QHY174M-GPS``, ``ASI462MM``).
        method: observing method, one of :data:`OBSERVING_METHODS` (``video`` for SER video).
        time_source: what disciplines the timestamps, one of :data:`TIME_SOURCES`
            (``gps`` in-camera or PPS, ``ntp`` host clock, ...); empty = not given.
        acquisition_delay_s: the delay for a camera with no entry of its own (seconds).
        acquisition_delay_uncertainty_s: its 1-sigma uncertainty (seconds).
        sampling: how that camera samples the sky, one of :data:`SAMPLINGS`.
        max_clock_error_s: flag a recording whose clock's maximum error is above this.
        delays: per camera ``(INDI name, delay, uncertainty, sampling)``, from
            ``[camera."NAME"]`` tables, after the measured ones (:data:`MEASURED_DELAYS`).
    """

    name: str = ""
    method: str = "video"
    time_source: str = ""
    acquisition_delay_s: float = DEFAULT_ACQUISITION_DELAY_S
    acquisition_delay_uncertainty_s: float = DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S
    sampling: str = "exposure"
    max_clock_error_s: float = 0.1
    delays: tuple[tuple[str, float, float, str], ...] = MEASURED_DELAYS

    def delay_for(self, camera: str | None) -> CameraDelay:
        """The acquisition delay model for a camera (None: unknown camera)."""
        for entry in reversed(self.delays):
            name, delay, sigma, sampling = entry
            if camera is not None and name == camera:
                origin = "measured" if entry in MEASURED_DELAYS else "config"
                return CameraDelay(delay, sigma, f"{origin} for {name!r}", sampling)
        default = (
            self.acquisition_delay_s,
            self.acquisition_delay_uncertainty_s,
            self.sampling,
        ) != (DEFAULT_ACQUISITION_DELAY_S, DEFAULT_ACQUISITION_DELAY_UNCERTAINTY_S, "exposure")
        return CameraDelay(
            self.acquisition_delay_s,
            self.acquisition_delay_uncertainty_s,
            "[camera] default" if default else "built-in default (unmeasured camera)",
            self.sampling,
        )


@dataclass(frozen=True)
class Settings:
    """Everything a command needs, resolved once."""

    site: Site | None = None
    rules: PlanRules = field(default_factory=PlanRules)
    ekos: EkosSettings = field(default_factory=EkosSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    run: RunSettings = field(default_factory=RunSettings)
    indi: IndiSettings = field(default_factory=IndiSettings)
    observer: ObserverSettings = field(default_factory=ObserverSettings)
    station: StationSettings = field(default_factory=StationSettings)
    telescope: TelescopeSettings = field(default_factory=TelescopeSettings)
    camera: CameraSettings = field(default_factory=CameraSettings)
    out_dir: Path | None = None
    sandbox_dir: Path | None = None
    config_path: Path | None = None

    def require_site(self) -> Site:
        """Return the site or raise a ConfigError that says how to give one."""
        if self.site is None:
            raise ConfigError(
                "No observing site: give --site LAT,LON[,ELEV] (degrees, east-positive longitude, "
                "optional metres) or set [station] lat, lon, elevation in the config file"
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
    "acquisition_delay_s": (-1.0, 10.0),
    "acquisition_delay_uncertainty_s": (0.0, 10.0),
    "max_clock_error_s": (0.0, 3600.0),
    "aperture_cm": (0.0, 1000.0),
    "focal_length_cm": (0.0, 100000.0),
}
"""Allowed range of each numeric setting (config key and the flag that sets it)."""
# zero is not allowed for these:
_POSITIVE = frozenset({"call_timeout_s", "exposure_s", "job_timeout_s", "max_clock_error_s"})
_SECTIONS = (
    "station", "site", "observer", "telescope", "camera", "plan", "ekos", "capture", "run",
    "indi", "paths",
)  # fmt: skip
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
        if value not in KSTARS_VERSION_SETTINGS:
            raise ValueError("expected " + ", ".join(KSTARS_VERSION_SETTINGS))
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
            raise ConfigError(f"{where}: {key} = {_show(value)}: expected a number.")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {key} = {value!r}: expected a finite number.")
        nums[key] = float(value)
    return _site(nums["lat"], nums["lon"], nums["elevation"], where)


_POSITION_KEYS = {"lat", "lon", "elevation"}


def _read_station(s: Settings, data: Mapping[str, Any], where: str) -> Settings:
    """The site from ``[station]`` (or its old name ``[site]``) and how it was measured.

    Raises:
        ConfigError: both tables hold a position, a key is unknown, or a value is out of range.
    """
    station = _section(data, "station", where)
    old = _section(data, "site", where)
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
        return dataclasses.replace(s, station=_apply(s.station, rest, f"{where} [station]"))
    except ConfigError as exc:
        if "unknown setting" in str(exc):
            raise ConfigError(f"{exc} (and elevation, lat, lon: the position)") from None
        raise


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


def _config_indi(table: Mapping[str, Any], where: str) -> IndiSettings:
    """``[indi]``: both folders absolute; the mounted one must be a folder when it exists."""
    indi: IndiSettings = _apply(IndiSettings(), table, where)
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
    cam: CameraSettings = _apply(base, scalars, f"{where} [camera]")
    delays = list(cam.delays)
    for name, sub in table.items():
        if not isinstance(sub, dict):
            continue
        here = f"{where} [camera.{name!r}]"
        try:
            _check_text(name)
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
        one = _apply(
            CameraSettings(acquisition_delay_uncertainty_s=cam.acquisition_delay_uncertainty_s),
            sub,
            here,
        )
        _sampling(one.sampling, f"{here} sampling")
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


def _choice(value: str, allowed: tuple[str, ...], key: str) -> None:
    if value and value not in allowed:
        raise ConfigError(f"{key} = {value!r}: choose one of {', '.join(allowed)}.")


def _sampling(value: str, key: str) -> None:
    if value not in SAMPLINGS:
        raise ConfigError(f"{key} = {value!r}: choose one of {', '.join(SAMPLINGS)}.")


def _validate_report(s: Settings, where: str) -> None:
    """Ranges and vocabularies of the report settings ([observer] ... [camera])."""
    _choice(s.station.position_source, POSITION_SOURCES, f"{where} [station] position_source")
    _choice(s.telescope.type, TELESCOPE_TYPES, f"{where} [telescope] type")
    _choice(s.camera.method, OBSERVING_METHODS, f"{where} [camera] method")
    _choice(s.camera.time_source, TIME_SOURCES, f"{where} [camera] time_source")
    _sampling(s.camera.sampling, f"{where} [camera] sampling")
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
    data: dict[str, Any] = _read_toml(path) if path is not None else {}
    where = str(path) if path else "config"
    s = Settings(config_path=path)
    unknown = sorted(set(data) - set(_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section(s) or key(s) {', '.join(map(repr, unknown))}; "
            f"known sections: {', '.join(f'[{n}]' for n in _SECTIONS)}."
        )
    s = _read_station(s, data, where)
    if path:
        s = dataclasses.replace(
            s,
            rules=_apply(s.rules, _section(data, "plan", where), f"{where} [plan]"),
            ekos=_apply(s.ekos, _section(data, "ekos", where), f"{where} [ekos]"),
            capture=_apply(s.capture, _section(data, "capture", where), f"{where} [capture]"),
            run=_apply(s.run, _section(data, "run", where), f"{where} [run]"),
            indi=_config_indi(_section(data, "indi", where), f"{where} [indi]"),
            observer=_apply(s.observer, _section(data, "observer", where), f"{where} [observer]"),
            telescope=_apply(
                s.telescope, _section(data, "telescope", where), f"{where} [telescope]"
            ),
            camera=_config_camera(s.camera, _section(data, "camera", where), where),
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
    _validate_report(s, where)
    return s


def configure_astropy_offline() -> None:
    """Never let astropy reach the network: bundled IERS tables only, no auto-download."""
    from astropy.utils import iers
    from astropy.utils.data import conf as data_conf

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
    iers.conf.iers_degraded_accuracy = "warn"
    data_conf.allow_internet = False
