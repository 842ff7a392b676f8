"""The readiness checks that ask KStars and Ekos (through the adapter), in the order they build on.

KStars on the bus, its version (hence the Ekos file format), Ekos open and started, the devices
connected, the camera Ekos captures with, and that camera's video-stream recording. Each gives a
:class:`~ekos_occult.kstars.readiness.verdicts.Check`; :func:`check_rig` runs them for ``check``,
and :func:`ekos_occult.kstars.readiness.prepare.ensure_ekos_ready` for ``load`` and ``run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ekos_occult.ekosfiles.formats import KStarsFormat, format_for_version, parse_format_setting
from ekos_occult.errors import EkosError
from ekos_occult.kstars.bus import NOT_RUNNING, START_KSTARS
from ekos_occult.kstars.client import EkosClient
from ekos_occult.kstars.kstars_calls import KStarsIdentity
from ekos_occult.kstars.readiness.host import location_check
from ekos_occult.kstars.readiness.verdicts import Check, Verdict
from ekos_occult.kstars.states import CommunicationStatus
from ekos_occult.model import Site

__all__ = [
    "RECORDING_PROPERTIES",
    "FormatSource",
    "FileFormat",
    "EkosState",
    "kstars_check",
    "version_check",
    "ekos_state",
    "ekos_check",
    "devices_check",
    "camera_check",
    "recording_checks",
    "check_rig",
]

RECORDING_PROPERTIES = (
    "CCD_VIDEO_STREAM",
    "STREAMING_EXPOSURE",
    "RECORD_FILE",
    "RECORD_OPTIONS",
    "RECORD_STREAM",
)
"""INDI properties a camera needs for timed stream recording (CCD_STREAM_FRAME is optional)."""

FormatSource = Literal["detected", "configured"]


async def kstars_check(client: EkosClient) -> Check:
    """Does KStars own its name on the bus?"""
    if not await client.is_running():
        return Check("kstars", Verdict.PROBLEM, NOT_RUNNING, START_KSTARS)
    return Check("kstars", Verdict.OK, "KStars is on the bus")


@dataclass(frozen=True)
class FileFormat:
    """The Ekos file format to write and why: ``format`` is None when it cannot be told."""

    check: Check
    version: str | None
    format: KStarsFormat | None
    source: FormatSource
    how: str


def version_check(found: KStarsIdentity, configured: str) -> FileFormat:
    """The running KStars' version against ``[ekos] kstars_version``/``--kstars-version``.

    A configured format wins (a different detected one is a warning); otherwise the detected
    version decides; an unidentified KStars with nothing configured is a problem, never
    assumed to read the 3.6 format.

    Args:
        found: what :meth:`EkosClient.identify` found (version None: unknown).
        configured: ``"auto"``, ``"3.6"`` or ``"3.7"``.
    """
    detected = found.version
    fmt = parse_format_setting(configured)
    name = "kstars: version"
    if fmt is not None:
        if detected and format_for_version(detected) != fmt:
            check = Check(
                name,
                Verdict.WARNING,
                f"--kstars-version {fmt} was given, but the running KStars is {detected} "
                f"(from {found.how}; its format is {format_for_version(detected)}); writing "
                f"{fmt} as asked",
            )
        else:
            running = f"KStars {detected} (from {found.how})" if detected else found.how
            check = Check(name, Verdict.OK, f"{running}; {fmt} file format (configured)")
        return FileFormat(check, detected, fmt, "configured", found.how)
    if detected:
        fmt = format_for_version(detected)
        check = Check(name, Verdict.OK, f"KStars {detected} (from {found.how}); {fmt} file format")
        return FileFormat(check, detected, fmt, "detected", found.how)
    check = Check(
        name,
        Verdict.PROBLEM,
        "Cannot tell which KStars is running, so which Ekos file format it reads: "
        f"{found.how}. ekos-occult writes a format it knows, not the 3.6 format by default "
        "(KStars 3.8 refuses 3.6 files, and their shutdown procedure parks the mount after "
        "the job)",
        "Give --kstars-version 3.6 (KStars 3.6.x) or 3.7 (3.7 and newer, StellarMate), or set "
        "[ekos] kstars_version in the config file.",
    )
    return FileFormat(check, None, None, "detected", found.how)


@dataclass(frozen=True)
class EkosState:
    """Ekos as one look found it: its window open, and its and INDI's communication status."""

    open: bool
    ekos: CommunicationStatus
    indi: CommunicationStatus

    @property
    def up(self) -> bool:
        """Ekos started its profile and INDI is connected."""
        ok = CommunicationStatus.SUCCESS
        return self.open and self.ekos == ok and self.indi == ok

    @property
    def pending(self) -> bool:
        """Someone is starting a profile (Ekos or INDI pending)."""
        return CommunicationStatus.PENDING in (self.ekos, self.indi)


async def ekos_state(client: EkosClient) -> EkosState:
    """Look at Ekos once (statuses are not asked while its window is closed)."""
    if not await client.is_ekos_open():
        idle = CommunicationStatus.IDLE
        return EkosState(False, idle, idle)
    return EkosState(True, await client.ekos_status(), await client.indi_status())


def ekos_check(state: EkosState, profile: str) -> Check:
    """Ekos open with its profile started; the fix names ``profile`` (``[ekos] profile``)."""
    which = f"the profile {profile!r}" if profile else "your profile"
    start = "or give --start-ekos (load and run then do it)"
    if not state.open:
        fix = f"Open Ekos and start {which}, {start}."
        return Check("ekos", Verdict.PROBLEM, "Ekos is not open in KStars", fix)
    found = f"Ekos {state.ekos.value}, INDI {state.indi.value}"
    if state.up:
        return Check("ekos", Verdict.OK, found)
    fix = f"Start {which} in Ekos, {start}."
    return Check("ekos", Verdict.PROBLEM, f"Ekos is not started ({found})", fix)


async def devices_check(client: EkosClient) -> tuple[Check, tuple[str, ...]]:
    """Every INDI device of the profile connected; the check and the devices."""
    devices = tuple(await client.devices())
    loose = [d for d in devices if not await client.is_device_connected(d)]
    if not devices or loose:
        return Check(
            "devices",
            Verdict.PROBLEM,
            "Ekos is not connected to its devices: "
            + (", ".join(loose) if loose else "no INDI device at all"),
            "Press Connect in Ekos (or restart the profile) and try again.",
        ), devices
    return Check("devices", Verdict.OK, f"connected: {', '.join(devices)}"), devices


def camera_check(configured: str, devices: Sequence[str], capture_camera: str) -> Check:
    """The camera Ekos captures with: ``[ekos] camera`` if set (it must be a device), else the
    one Ekos' Capture module names (``capture_camera``, empty when none)."""
    if configured and configured not in devices:
        return Check(
            "camera",
            Verdict.PROBLEM,
            f"The camera {configured!r} ([ekos] camera) is not among Ekos' devices "
            f"({', '.join(devices) or 'none'})",
            "Connect it, or fix [ekos] camera in the config file.",
        )
    camera = configured or capture_camera
    if not camera:
        return Check(
            "camera",
            Verdict.PROBLEM,
            "Ekos' Capture module has no camera",
            "Select one in Ekos' Capture tab, or set [ekos] camera in the config file.",
        )
    how = "[ekos] camera" if configured else "Ekos' Capture module"
    return Check("camera", Verdict.OK, f"{camera} (from {how})")


async def recording_checks(client: EkosClient, camera: str) -> list[Check]:
    """Can ``camera``'s INDI driver record a timed video stream to SER, with an ROI?"""
    props = {p.split(".")[1] for p in await client.device_properties(camera) if p.count(".") >= 2}
    missing = [p for p in RECORDING_PROPERTIES if p not in props]
    checks = [
        Check(
            "camera: stream recording",
            Verdict.PROBLEM if missing else Verdict.OK,
            f"{camera}: "
            + (
                f"missing {', '.join(missing)}"
                if missing
                else "has " + ", ".join(RECORDING_PROPERTIES)
            ),
            "This camera's INDI driver cannot record a video stream; use a driver with "
            "streaming (INDI::StreamManager)."
            if missing
            else "",
        )
    ]
    if "CCD_STREAM_RECORDER" in props:
        ser = await client.get_switch(camera, "CCD_STREAM_RECORDER", "SER")
        checks.append(
            Check(
                "camera: SER recorder",
                Verdict.OK if ser else Verdict.PROBLEM,
                f"{camera}: CCD_STREAM_RECORDER SER is {'on' if ser else 'off'}",
                ""
                if ser
                else "Select the SER recorder in the camera's INDI "
                "Streaming tab (CCD_STREAM_RECORDER).",
            )
        )
    else:
        checks.append(
            Check(
                "camera: SER recorder",
                Verdict.WARNING,
                f"{camera}: no CCD_STREAM_RECORDER property (older INDI: SER only)",
            )
        )
    if "CCD_STREAM_FRAME" not in props:
        checks.append(
            Check(
                "camera: ROI",
                Verdict.WARNING,
                f"{camera}: no CCD_STREAM_FRAME, recordings are full frame",
            )
        )
    return checks


async def check_rig(
    client: EkosClient, *, profile: str = "", camera: str = "", site: Site | None = None
) -> list[Check]:
    """Every check that needs KStars, in order; stops early when KStars/Ekos is not up.

    Never raises for a rig that is not ready: a D-Bus error is a ``kstars`` problem.
    """
    try:
        checks = [await kstars_check(client)]
        if checks[0].verdict is not Verdict.OK:
            return checks
        checks.append(ekos_check(await ekos_state(client), profile))
        if checks[-1].verdict is not Verdict.OK:
            return checks
        devices, names = await devices_check(client)
        checks.append(devices)
        capture = "" if camera else await client.camera_name()
        checks.append(camera_check(camera, names, capture))
        if checks[-1].verdict is Verdict.OK:
            checks += await recording_checks(client, camera or capture)
        checks.append(location_check(await client.location(), site))
    except EkosError as exc:
        checks = [Check("kstars", Verdict.PROBLEM, str(exc))]
    return checks
