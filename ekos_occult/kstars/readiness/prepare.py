"""Readiness for ``load`` and ``run``: the same checks as ``check``, made to stop the command.

:func:`ensure_ekos_ready` runs the checks of :mod:`ekos_occult.kstars.readiness.ekos` in order
(KStars on the bus, its version, Ekos started, devices connected, a camera) and stops at the
first problem with :func:`~ekos_occult.kstars.readiness.verdicts.require_ready`; with
``start_ekos`` it opens Ekos and starts the profile instead of stopping. It returns a
:class:`ReadyReport` with what the later steps need: the Ekos file format to write, the camera's
INDI name and KStars' location, whose time zone is the one scheduler StartAt times are read in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo

from ekos_occult.clock import Clock
from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.errors import ConfigError, EkosCommandFailed, EkosUnavailable
from ekos_occult.kstars import indiwire
from ekos_occult.kstars.client import EkosClient, KStarsLocation
from ekos_occult.kstars.indiwire import IndiServer
from ekos_occult.kstars.readiness.ekos import (
    FormatSource,
    camera_check,
    devices_check,
    ekos_check,
    ekos_state,
    kstars_check,
    version_check,
)
from ekos_occult.kstars.readiness.verdicts import Verdict, require_ready
from ekos_occult.kstars.states import CommunicationStatus
from ekos_occult.settings import Settings

__all__ = [
    "EKOS_START_TIMEOUT_S",
    "CAMERA_WAIT_S",
    "ReadyReport",
    "ensure_ekos_ready",
    "settings_for_camera",
]

EKOS_START_TIMEOUT_S = 90.0
"""How long Ekos may take to start a profile and connect its devices (simulators: ~2 s)."""
CAMERA_WAIT_S = 10.0
"""How long the Capture module may take to name its camera after the devices connected."""
_POLL_S = 0.5


@dataclass(frozen=True)
class ReadyReport:
    """The running Ekos as :func:`ensure_ekos_ready` found (or left) it.

    Attributes:
        kstars_version: the running KStars' version ("3.6.2"), None when it cannot be told
            (e.g. KStars on another machine).
        file_format: the Ekos file format to write, ``"3.6"`` or ``"3.7"``.
        format_source: ``detected`` (from the running KStars) or ``configured``
            (``--kstars-version``/config); an unidentified KStars is refused, never assumed.
        location: KStars' geographic location; its ``tz_hours`` is the zone of StartAt times.
        camera: the INDI name of the camera Ekos captures with.
        devices: the connected INDI devices.
        started_profile: the profile this call started, None when Ekos was already running.
        notes: sentences for the user (e.g. a configured format that differs from KStars').
        version_how: how the version was found (the 3.8 version property, the executable,
            a feature probe).
        indi_server: Ekos' INDI server (local or on another host), None when not found.
        capture_formats: the camera's capture-format labels and which is on, as its INDI
            server defines ``CCD_CAPTURE_FORMAT`` (empty when not found).
    """

    kstars_version: str | None
    file_format: KStarsFormat
    format_source: FormatSource
    location: KStarsLocation
    camera: str
    devices: tuple[str, ...]
    started_profile: str | None = None
    notes: tuple[str, ...] = ()
    version_how: str = ""
    indi_server: IndiServer | None = None
    capture_formats: tuple[tuple[str, bool], ...] = ()

    @property
    def tz(self) -> tzinfo:
        """KStars' local time zone, in which Ekos reads scheduler StartAt times."""
        if self.location.tz_hours == 0:
            return timezone.utc
        return timezone(timedelta(hours=self.location.tz_hours))

    @property
    def version_text(self) -> str:
        """E.g. ``"KStars 3.6.2 (/usr/bin/kstars --version), 3.6 file format (detected)"``."""
        found = f"KStars {self.kstars_version or '(version unknown)'}"
        how = f" ({self.version_how})" if self.version_how and self.kstars_version else ""
        return f"{found}{how}, {self.file_format} file format ({self.format_source})"


async def _pause(clock: Clock, seconds: float) -> None:
    await clock.sleep_until(clock.now() + timedelta(seconds=seconds))


async def _start_profile(client: EkosClient, profile: str, clock: Clock, timeout_s: float) -> None:
    names = await client.profiles()
    if profile not in names:
        raise ConfigError(
            f"Ekos has no equipment profile {profile!r} (it has: {', '.join(names) or 'none'}); "
            "set [ekos] profile in the config file to one of them."
        )
    await client.set_profile(profile)
    await client.start_ekos()
    await _wait_until_up(client, clock, timeout_s, f"profile {profile!r}")


async def _wait_until_up(client: EkosClient, clock: Clock, timeout_s: float, what: str) -> None:
    deadline = clock.now() + timedelta(seconds=timeout_s)
    while not (state := await ekos_state(client)).up:
        if CommunicationStatus.ERROR in (state.ekos, state.indi):
            raise EkosCommandFailed(
                f"Ekos could not start {what}. Ekos' log says:\n" + _quote(await client.ekos_log())
            )
        if clock.now() >= deadline:
            raise EkosUnavailable(
                f"Ekos did not finish starting {what} within {timeout_s:g} s (Ekos "
                f"{state.ekos.value}, INDI {state.indi.value}). Ekos' log says:\n"
                + _quote(await client.ekos_log())
            )
        await _pause(clock, _POLL_S)


def _quote(lines: Sequence[str], count: int = 8) -> str:
    """The newest ``count`` log lines, oldest first, indented (logs come newest first)."""
    chosen = list(lines[:count])[::-1]
    return "\n".join(f"  {line}" for line in chosen) if chosen else "  (nothing)"


async def _ensure_started(
    client: EkosClient, profile: str, start_ekos: bool, clock: Clock, timeout_s: float
) -> str | None:
    """Make sure Ekos runs a profile with its devices connected; the profile started, if any.

    Without ``start_ekos`` a closed or stopped Ekos is the ``ekos`` check's problem (raised);
    a profile someone else is starting is waited for.
    """
    state = await ekos_state(client)
    if not state.open:
        if not start_ekos:
            require_ready([ekos_check(state, profile)])
        await client.open_ekos_window()
        state = await ekos_state(client)
    if state.up:
        return None
    if state.pending:
        await _wait_until_up(client, clock, timeout_s, "its profile")  # someone is starting it
        return None
    if not start_ekos:
        require_ready([ekos_check(state, profile)])
    await _start_profile(client, profile, clock, timeout_s)
    return profile


async def _camera(
    client: EkosClient, settings: Settings, devices: Sequence[str], clock: Clock
) -> str:
    """The ``camera`` check, waiting up to :data:`CAMERA_WAIT_S` for Capture to name one."""
    configured = settings.ekos.camera
    deadline = clock.now() + timedelta(seconds=CAMERA_WAIT_S)
    while True:
        capture = "" if configured else await client.camera_name()
        check = camera_check(configured, devices, capture)
        if check.verdict is Verdict.OK or configured or clock.now() >= deadline:
            require_ready([check])
            return configured or capture
        await _pause(clock, _POLL_S)


async def ensure_ekos_ready(
    client: EkosClient,
    settings: Settings,
    *,
    start_ekos: bool,
    clock: Clock | None = None,
    start_timeout_s: float = EKOS_START_TIMEOUT_S,
) -> ReadyReport:
    """Check that KStars and Ekos are ready for a night, starting Ekos when allowed.

    Sets ``client.version`` to the file-format family, so that the adapter reads Ekos' states
    with that version's numbering.

    Args:
        client: a connected adapter (``EkosClient``).
        settings: the Ekos profile, camera and ``kstars_version`` (auto/3.6/3.7).
        start_ekos: open Ekos and start ``settings.ekos.profile`` if it is not running.
        clock: for the waits (default: the system clock).
        start_timeout_s: how long starting the profile and connecting may take.

    Returns:
        What was found: version and file format, camera, devices, location (time zone).

    Raises:
        EkosUnavailable: a failing check (KStars not on the bus, Ekos not open or started
            without ``start_ekos``, devices not connected, no camera), or a start that did not
            finish in time; the message is the check's detail and fix.
        EkosCommandFailed: Ekos failed to start the profile (its log is quoted).
        ConfigError: KStars' version cannot be told and none is configured, or the
            configured profile does not exist in Ekos.
        EkosTimeout: a D-Bus call did not answer in time.
    """
    if clock is None:
        from ekos_occult.clock import SystemClock

        clock = SystemClock()
    require_ready([await kstars_check(client)])
    version = version_check(await client.identify(), settings.ekos.kstars_version)
    if version.format is None:  # the version check's problem: nothing to write with
        raise ConfigError(version.check.message)
    fmt = version.format
    client.version = fmt
    notes: tuple[str, ...] = ()
    if version.check.verdict is Verdict.WARNING:
        notes += (version.check.message + ".",)
    started = await _ensure_started(
        client, settings.ekos.profile, start_ekos, clock, start_timeout_s
    )
    devices_ok, devices = await devices_check(client)
    require_ready([devices_ok])
    camera = await _camera(client, settings, devices, clock)
    location = await client.location()
    notes += (_options_note(version.version, fmt),)
    server = await client.indi_server(settings.ekos.profile)
    formats: tuple[tuple[str, bool], ...] = ()
    if server is not None:
        labels = await indiwire.switch_labels(
            server.host, server.port, camera, "CCD_CAPTURE_FORMAT", settings.ekos.call_timeout_s
        )
        formats = tuple((label, on) for _, label, on in labels)
    if server is None:
        notes += (
            "Ekos' INDI server was not found (no remote profile from Ekos.getProfile or "
            "KStars' user database, no indiserver child of KStars, no port in Ekos' log): "
            "camera properties are sent through KStars' "
            "INDI.sendProperty, which can crash KStars (3.6 to 3.8).",
        )
    elif not server.is_local:
        notes += (
            f"{server.describe()}: the SER files are written on {server.host}; run verifies "
            "each by INDI's own report (the frames it recorded), or through a mount of that "
            "host's recordings folder ([indi] remote_record_dir).",
        )
    return ReadyReport(
        version.version,
        fmt,
        version.source,
        location,
        camera,
        devices,
        started,
        notes,
        version.how,
        server,
        formats,
    )


def _options_note(version: str | None, fmt: str) -> str:
    """What loading our .esl files changes in the user's scheduler options (KStars keeps it)."""
    if fmt == "3.6":
        changed = "its error handling (don't restart) and the startup/shutdown procedures"
    elif version is not None and re.search(r"3\.(\d+)", version) and _minor(version) < 8:
        changed = "its error handling (don't restart) and the park/unpark/warm-CCD options"
    else:
        changed = "its error handling (don't restart), and turns your startup and shutdown task "
        changed += "queues off"
    return (
        f"Loading ekos-occult's schedules sets Ekos' scheduler options to theirs: {changed}. "
        "KStars keeps them for later sessions: run puts yours back after the night (read from "
        "the kstarsrc); after load, turn yours back on in the scheduler's options if you use "
        "them."
    )


def _minor(version: str) -> int:
    m = re.search(r"(\d+)\.(\d+)", version)
    return int(m.group(2)) if m else 0


def settings_for_camera(settings: Settings, report: ReadyReport) -> tuple[Settings, str]:
    """The settings with the .esq ``<Format>`` the camera has (its capture-format label).

    Ekos matches ``<Format>`` against the camera's own labels exactly ("Mono" fits the CCD
    Simulator and QHY mono cameras, not every camera). When the configured one is not among
    the camera's, the camera's current one is used.

    Returns:
        The settings to render with, and a note for the user ("" when nothing changed).
    """
    labels = [label for label, _ in report.capture_formats]
    if not labels or settings.capture.format in labels:
        return settings, ""
    chosen = next((label for label, on in report.capture_formats if on), labels[0])
    note = (
        f"the camera {report.camera} has no capture format {settings.capture.format!r} "
        f"(it has {', '.join(repr(x) for x in labels)}): the .esq files use {chosen!r}, "
        "its current one ([capture] format in the config chooses another)."
    )
    capture = dataclasses.replace(settings.capture, format=chosen)
    return dataclasses.replace(settings, capture=capture), note
