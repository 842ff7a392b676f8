"""The config file's sections as frozen records, and :class:`Settings` that holds them all.

One record per section: ``[station]`` (:class:`StationSettings`; its position is kept in
:attr:`Settings.site` as a :class:`~ekos_occult.model.Site`), ``[plan]``
(:class:`~ekos_occult.model.PlanRules`), ``[ekos]``, ``[capture]``, ``[run]``, ``[indi]``,
``[observer]``, ``[telescope]``, ``[camera]`` (:mod:`ekos_occult.settings.camera`) and
``[paths]`` (:attr:`Settings.out_dir`, :attr:`Settings.sandbox_dir`). Units are in the field
names (``_s`` seconds, ``_cm`` centimetres, ``_deg`` degrees, ``_bytes``). Also the
vocabularies a value must come from (:data:`STEPS`, the report codes, ...). No reading, no
checking here: :mod:`ekos_occult.settings.values` and :mod:`ekos_occult.settings.load`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ekos_occult.errors import ConfigError
from ekos_occult.model import PlanRules, Site
from ekos_occult.settings.camera import CameraSettings

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
