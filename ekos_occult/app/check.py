"""The ``check`` use case: is the rig ready for an unattended night?

KStars/Ekos reachable, devices connected, the camera's stream recording and SER recorder,
KStars settings that would end the night (read from kstarsrc, with the exact change to make),
KStars' location against the site, KStars' first connect to its INDI server (from KStars'
log: a failed first connect leaves KStars 3.6.2 crash-prone for the session), the system
clock's synchronisation and free disk space.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ekos_occult.kstars.readiness import Check
    from ekos_occult.night.ports import ClockSync, ClockSyncReader
    from ekos_occult.settings import Settings

__all__ = [
    "CheckRequest",
    "check_rig_ready",
    "kstarsrc_path",
    "kstars_config_home",
    "default_clock_reader",
    "clock_verdict",
]

FRAMES_PER_S = 10
"""The disk check counts minutes of full-frame video at this rate."""


@dataclass(frozen=True)
class CheckRequest:
    """What ``ekos-occult check`` was asked.

    Attributes:
        bus: KStars' D-Bus address (None: ``$DBUS_SESSION_BUS_ADDRESS``, else a sandbox's).
        kstarsrc: KStars' settings file (None: the one of the KStars on the bus).
    """

    bus: str | None = None
    kstarsrc: Path | None = None
    clock: ClockSync | None = None


def default_clock_reader() -> ClockSyncReader:
    """The kernel's clock state reader (tests replace this function)."""
    from ekos_occult.night.timesync import KernelClockReader

    return KernelClockReader()


def clock_verdict(clock: ClockSync, limit_s: float) -> Check:
    """The clock check from the kernel's state (adjtimex), with chrony's details if present.

    Unsynchronised is a problem (every event time would be as wrong as the clock); a maximum
    error over ``[camera] max_clock_error_s`` is a warning. When the kernel cannot be asked,
    timedatectl/chronyc are (:func:`ekos_occult.kstars.readiness.host.clock_check`).
    """
    from ekos_occult.kstars import readiness
    from ekos_occult.kstars.readiness import Check, Verdict

    if clock.synchronised is None:
        return readiness.clock_check()
    chrony = ""
    if clock.detail and "reference" in clock.detail:
        d = clock.detail
        chrony = (
            f"; chrony: {d.get('reference')} stratum {d.get('stratum')}, offset "
            f"{d.get('system_offset_s')} s, {d.get('leap_status')}"
        )
    gps = clock.detail.get("gpsd") if clock.detail else None
    if isinstance(gps, Mapping):
        sats = gps.get("satellites_used")
        chrony += (
            f"; gpsd: {gps.get('fix')} fix"
            + (f", {sats} satellites used" if sats is not None else "")
            + (", PPS" if gps.get("pps") else "")
            + (f" ({', '.join(map(str, gps['devices']))})" if gps.get("devices") else "")
        )
    errors = f"max error {clock.max_error_s:.3f} s, estimated {clock.est_error_s:.3f} s"
    if not clock.synchronised:
        return Check(
            "clock",
            Verdict.PROBLEM,
            f"kernel (adjtimex): the clock is NOT synchronised ({errors}){chrony}",
            "Start a time daemon (chrony, systemd-timesyncd, or gpsd + chrony for a GPS) and "
            "wait until it is synchronised: event times are only as good as this clock.",
        )
    if clock.max_error_s is not None and clock.max_error_s > limit_s:
        return Check(
            "clock",
            Verdict.WARNING,
            f"kernel (adjtimex): synchronised, but {errors} is over the {limit_s:g} s limit"
            f"{chrony}",
            "Wait for the time daemon to settle, use a closer/better time source (GPS), or "
            "raise [camera] max_clock_error_s if this error is acceptable.",
        )
    return Check("clock", Verdict.OK, f"kernel (adjtimex): synchronised, {errors}{chrony}")


def kstarsrc_path(kstarsrc: Path | None, settings: Settings, bus: str) -> Path:
    """``kstarsrc`` (``--kstarsrc``), or the kstarsrc of the KStars on ``bus``.

    The KStars that owns its name on ``bus`` is asked for by process id (the bus daemon knows
    it); its ``XDG_CONFIG_HOME`` or ``HOME`` (``/proc/PID/environ``) locates its kstarsrc, which
    may belong to another user or a sandbox. When that process cannot be read (KStars not
    running yet, another PID namespace), a sandbox's recorded bus or the caller's own
    ``$XDG_CONFIG_HOME/kstarsrc`` is used (see
    :func:`ekos_occult.kstars.readiness.kstarsrc.default_kstarsrc`).
    """
    import os

    from ekos_occult.kstars.readiness import default_kstarsrc
    from ekos_occult.kstars.sandbox import default_state_dir

    if kstarsrc is not None:
        return kstarsrc.expanduser()
    home = kstars_config_home(bus, settings.ekos.call_timeout_s) if bus else None
    if home is not None:
        return home / "kstarsrc"
    dirs = [d for d in (settings.sandbox_dir, default_state_dir()) if d is not None]
    return default_kstarsrc(bus, dirs, os.environ, Path.home())


def kstars_config_home(bus: str, timeout_s: float) -> Path | None:
    """The config directory of the KStars process on ``bus``; None when it cannot be told."""
    import asyncio

    from ekos_occult.errors import EkosError
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.procs import config_home_of

    async def pid() -> int:
        async with EkosClient(bus, timeout_s=timeout_s) as client:
            return await client.kstars_pid()

    try:
        return config_home_of(asyncio.run(pid()))
    except EkosError:
        return None


async def _kstars_checks(
    bus: str, settings: Settings
) -> tuple[list[Check], int | None, str | None, str | None]:
    """The checks that ask KStars, the camera's full-frame size in bytes, KStars' version
    (None: unknown) and the INDI host the recordings are written on (None: this machine)."""
    from ekos_occult.errors import EkosError, RecordingError
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.readiness import Check, Verdict, check_rig, version_check
    from ekos_occult.night.recorder import IndiStreamRecorder

    try:
        async with EkosClient(bus, timeout_s=settings.ekos.call_timeout_s) as client:
            checks = await check_rig(
                client,
                profile=settings.ekos.profile,
                camera=settings.ekos.camera,
                site=settings.site,
            )
            try:
                found = await client.identify()
            except EkosError:
                return checks, None, None, None  # KStars is not there: check_rig said so
            checks.append(version_check(found, settings.ekos.kstars_version).check)
            try:
                server = await client.indi_server(settings.ekos.profile)
            except EkosError:
                server = None
            host = None if server is None or server.is_local else server.host
            try:
                camera = settings.ekos.camera or await client.camera_name()
                geometry = await IndiStreamRecorder(lambda: client, camera).frame_geometry(None)
            except (EkosError, RecordingError):
                return checks, None, found.version, host
            return checks, geometry.frame_bytes, found.version, host
    except EkosError as exc:
        return [Check("kstars", Verdict.PROBLEM, str(exc))], None, None, None


def recordings_disk_check(
    host: str | None, mount: Path | None, local: Path, rate_bytes_per_s: float | None
) -> Check:
    """Free space where the recordings go: this machine's folder; with INDI on another host,
    that host's recordings folder through its mount (``[indi] remote_record_dir``), or a plain
    statement that it cannot be checked from here."""
    from ekos_occult.kstars.readiness import Check, Verdict, disk_check
    from ekos_occult.video.diskspace import free_bytes

    if host is None:
        return disk_check(free_bytes(local), local, rate_bytes_per_s=rate_bytes_per_s)
    if mount is None:
        return Check(
            "disk",
            Verdict.UNKNOWN,
            f"the recordings are written on the INDI host {host}: its free disk space cannot "
            "be checked from here",
            "Check it on that host, or mount its recordings folder here and set [indi] "
            "remote_record_dir (then it is checked, and each file verified, through the mount).",
        )
    try:
        if not mount.is_dir():
            raise FileNotFoundError("not a folder (is it mounted?)")
        free = free_bytes(mount)
    except OSError as exc:
        return Check(
            "disk",
            Verdict.PROBLEM,
            f"the INDI host {host}'s recordings folder, mounted at {mount}, cannot be read: {exc}",
            "Mount it (sshfs, NFS, SMB) before the night, or unset [indi] remote_record_dir.",
        )
    check = disk_check(free, mount, rate_bytes_per_s=rate_bytes_per_s)
    return Check(
        check.name, check.verdict, f"{check.detail} (INDI host {host}, mounted)", check.fix
    )


def _connect_race_check(bus: str, settings: Settings) -> list[Check]:
    """KStars' first connect to its INDI server, from KStars' log when there is one."""
    from ekos_occult.kstars.readiness import indi_connect_check, kstars_log_lines
    from ekos_occult.kstars.sandbox import default_state_dir

    dirs = [d for d in (settings.sandbox_dir, default_state_dir()) if d is not None]
    lines, where = kstars_log_lines(bus, dirs, Path.home())
    return [indi_connect_check(lines, where)] if lines else []


def check_rig_ready(request: CheckRequest, settings: Settings) -> list[Check]:
    """Every check, in order; none raises: what cannot be checked is a verdict too."""
    import asyncio
    import os

    from ekos_occult.errors import EkosUnavailable
    from ekos_occult.kstars.readiness import (
        Check,
        Verdict,
        kstars_settings_checks,
        read_kstarsrc,
    )
    from ekos_occult.kstars.sandbox import resolve_bus_address

    checks: list[Check] = []
    frame_bytes: int | None = None
    version: str | None = None
    host: str | None = None
    try:
        bus = resolve_bus_address(request.bus, os.environ, settings.sandbox_dir)
    except EkosUnavailable as exc:
        bus = ""
        checks.append(Check("kstars", Verdict.PROBLEM, str(exc)))
    if bus:
        found, frame_bytes, version, host = asyncio.run(_kstars_checks(bus, settings))
        checks += found
        checks += _connect_race_check(bus, settings)
    rc_path = kstarsrc_path(request.kstarsrc, settings, bus)
    try:
        checks += kstars_settings_checks(read_kstarsrc(rc_path), rc_path, version)
    except OSError as exc:
        checks.append(Check("kstars settings", Verdict.UNKNOWN, f"cannot read {rc_path}: {exc}"))
    clock = request.clock or default_clock_reader().read()
    checks.append(clock_verdict(clock, settings.camera.max_clock_error_s))
    from ekos_occult.ekosfiles.nightfolder import default_nights_dir

    # where `run` puts its night folders: --out / [paths] out_dir, else the user data dir
    where = (settings.out_dir or default_nights_dir()).absolute()
    rate = frame_bytes * FRAMES_PER_S if frame_bytes else None
    checks.append(recordings_disk_check(host, settings.indi.mount, where, rate))
    return checks
