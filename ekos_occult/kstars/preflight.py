"""Is the rig ready? KStars on the bus, Ekos started, devices connected, camera, version, zone.

One use-case shared by ``load`` and ``run``: :func:`ensure_ekos_ready` checks (and with
``start_ekos``, brings up) the running KStars/Ekos and returns a :class:`ReadyReport` with what
the later steps need: the Ekos file format to write (detected KStars version, or the configured
one), the camera's INDI name and KStars' location, whose time zone is the one scheduler StartAt
times are read in. It talks to Ekos only through the adapter's typed methods.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone, tzinfo
from typing import Literal

from ekos_occult.clock import Clock
from ekos_occult.ekosfiles.formats import KStarsFormat, format_for_version, parse_format_setting
from ekos_occult.errors import ConfigError, EkosCommandFailed, EkosUnavailable
from ekos_occult.kstars import indiwire
from ekos_occult.kstars.client import NOT_RUNNING_MESSAGE, EkosClient, KStarsLocation
from ekos_occult.kstars.indiwire import IndiServer
from ekos_occult.kstars.states import CommunicationStatus
from ekos_occult.settings import Settings

__all__ = [
    "ReadyReport",
    "ensure_ekos_ready",
    "settings_for_camera",
]

EKOS_START_TIMEOUT_S = 90.0
"""How long Ekos may take to start a profile and connect its devices (simulators: ~2 s)."""
CAMERA_WAIT_S = 10.0
"""How long the Capture module may take to name its camera after the devices connected."""
_POLL_S = 0.5

FormatSource = Literal["detected", "configured"]


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


async def _file_format(
    client: EkosClient, configured: str
) -> tuple[str | None, KStarsFormat, FormatSource, tuple[str, ...], str]:
    found = await client.identify()
    detected = found.version
    fmt = parse_format_setting(configured)
    if fmt is not None:
        notes: tuple[str, ...] = ()
        if detected and format_for_version(detected) != fmt:
            notes = (
                f"--kstars-version {fmt} was given, but the running KStars is {detected} "
                f"(from {found.how}; its format is {format_for_version(detected)}); writing "
                f"{fmt} as asked.",
            )
        return detected, fmt, "configured", notes, found.how
    if detected:
        return detected, format_for_version(detected), "detected", (), found.how
    raise ConfigError(
        "Cannot tell which KStars is running, so which Ekos file format it reads: "
        f"{found.how}. ekos-occult writes a format it knows, not the 3.6 format by default "
        "(KStars 3.8 refuses 3.6 files, and their shutdown procedure parks the mount after "
        "the job). Give --kstars-version 3.6 (KStars 3.6.x) or 3.7 (3.7 and newer, "
        "StellarMate), or set [ekos] kstars_version in the config file."
    )


async def _is_up(client: EkosClient) -> bool:
    ok = CommunicationStatus.SUCCESS
    return await client.ekos_status() == ok and await client.indi_status() == ok


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
    while not await _is_up(client):
        if CommunicationStatus.ERROR in (await client.ekos_status(), await client.indi_status()):
            raise EkosCommandFailed(
                f"Ekos could not start {what}. Ekos' log says:\n" + _quote(await client.ekos_log())
            )
        if clock.now() >= deadline:
            raise EkosUnavailable(
                f"Ekos did not finish starting {what} within {timeout_s:g} s (Ekos "
                f"{(await client.ekos_status()).value}, INDI {(await client.indi_status()).value})."
                " Ekos' log says:\n" + _quote(await client.ekos_log())
            )
        await _pause(clock, _POLL_S)


def _quote(lines: Sequence[str], count: int = 8) -> str:
    """The newest ``count`` log lines, oldest first, indented (logs come newest first)."""
    chosen = list(lines[:count])[::-1]
    return "\n".join(f"  {line}" for line in chosen) if chosen else "  (nothing)"


async def _ensure_started(
    client: EkosClient, profile: str, start_ekos: bool, clock: Clock, timeout_s: float
) -> str | None:
    """Make sure Ekos runs a profile with its devices connected; the profile started, if any."""
    hint = f"start the profile {profile!r} in Ekos, or give --start-ekos"
    if not await client.is_ekos_open():
        if not start_ekos:
            raise EkosUnavailable(f"Ekos is not open in KStars: open Ekos and {hint}.")
        await client.open_ekos_window()
    if await _is_up(client):
        return None
    pending = CommunicationStatus.PENDING
    if pending in (await client.ekos_status(), await client.indi_status()):
        await _wait_until_up(client, clock, timeout_s, "its profile")  # someone is starting it
        return None
    if not start_ekos:
        raise EkosUnavailable(
            f"Ekos is not started (Ekos {(await client.ekos_status()).value}, INDI "
            f"{(await client.indi_status()).value}): {hint}."
        )
    await _start_profile(client, profile, clock, timeout_s)
    return profile


async def _connected_devices(client: EkosClient) -> tuple[str, ...]:
    devices = await client.devices()
    loose = [d for d in devices if not await client.is_device_connected(d)]
    if not devices or loose:
        what = ", ".join(loose) if loose else "no INDI device at all"
        raise EkosUnavailable(
            f"Ekos is started but not connected to its devices ({what}): press Connect in "
            "Ekos (or restart the profile) and try again."
        )
    return tuple(devices)


async def _camera(
    client: EkosClient, settings: Settings, devices: Sequence[str], clock: Clock
) -> str:
    if settings.ekos.camera:
        if settings.ekos.camera not in devices:
            raise EkosUnavailable(
                f"The camera {settings.ekos.camera!r} ([ekos] camera) is not among Ekos' "
                f"devices ({', '.join(devices)}): connect it, or fix the config."
            )
        return settings.ekos.camera
    deadline = clock.now() + timedelta(seconds=CAMERA_WAIT_S)
    while not (camera := await client.camera_name()):
        if clock.now() >= deadline:
            raise EkosUnavailable(
                "Ekos' Capture module has no camera: select one in Ekos' Capture tab, or set "
                "[ekos] camera in the config file."
            )
        await _pause(clock, _POLL_S)
    return camera


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
        EkosUnavailable: KStars is not on the bus, Ekos is not started (and ``start_ekos`` is
            false), devices are not connected, or there is no camera.
        EkosCommandFailed: Ekos failed to start the profile (its log is quoted).
        ConfigError: the configured profile does not exist in Ekos.
        EkosTimeout: a D-Bus call did not answer in time.
    """
    if clock is None:
        from ekos_occult.clock import SystemClock

        clock = SystemClock()
    if not await client.is_running():
        raise EkosUnavailable(NOT_RUNNING_MESSAGE)
    detected, fmt, source, notes, how = await _file_format(client, settings.ekos.kstars_version)
    client.version = fmt
    started = await _ensure_started(
        client, settings.ekos.profile, start_ekos, clock, start_timeout_s
    )
    devices = await _connected_devices(client)
    camera = await _camera(client, settings, devices, clock)
    location = await client.location()
    notes += (_options_note(detected, fmt),)
    server = await client.indi_server(settings.ekos.profile)
    formats: tuple[tuple[str, bool], ...] = ()
    if server is not None:
        labels = await indiwire.switch_labels(
            server.host, server.port, camera, "CCD_CAPTURE_FORMAT", settings.ekos.call_timeout_s
        )
        formats = tuple((label, on) for _, label, on in labels)
    if server is None:
        notes += (
            "Ekos' INDI server was not found (no remote profile, no indiserver child of "
            "KStars, no port in Ekos' log): camera properties are sent through KStars' "
            "INDI.sendProperty, which can crash KStars (3.6 to 3.8).",
        )
    elif not server.is_local:
        notes += (
            f"{server.describe()}: the SER files are written on {server.host}, and checked "
            "through INDI (the recording finished without an error), not read here.",
        )
    return ReadyReport(
        detected, fmt, source, location, camera, devices, started, notes, how, server, formats
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
        "KStars keeps them for later sessions: turn yours back on in the scheduler's options "
        "after the night if you use them."
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
