"""Calls to KStars itself (``/KStars``): its process, version and geographic location."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.errors import EkosCommandFailed, EkosIncompatible
from ekos_occult.kstars.bus import (
    CAPTURE_OBJ,
    KSTARS_OBJ,
    KSTARS_SERVICE,
    SCHEDULER_OBJ,
    KStarsBus,
    require,
)

__all__ = ["KStarsCalls", "KStarsLocation", "KStarsIdentity"]


@dataclass(frozen=True)
class KStarsIdentity:
    """What the running KStars was identified as, and how.

    Attributes:
        version: "3.8.1", or a lower bound such as ">=3.7.3" from a feature probe; None when
            nothing told it.
        how: the evidence, for the user ("the /KStars version property", ...); when
            ``version`` is None, everything that was tried.
    """

    version: str | None
    how: str


_TRIED = (
    "no /KStars version property (KStars 3.8 has one); {exe}; no Scheduler.jsonJobs (3.7.1+); "
    "Capture.abort takes no optical train (3.6 to 3.7.2)"
)

_DBUS = ("/org/freedesktop/DBus", "org.freedesktop.DBus")


@dataclass(frozen=True)
class KStarsLocation:
    """KStars' geographic location as it reports it (``org.kde.kstars.location``).

    Attributes:
        name: the city name, or ``"GPS Location"`` after :meth:`KStarsCalls.set_gps_location`.
        lat_deg, lon_deg: latitude and longitude (east positive) in degrees.
        tz_hours: the UTC offset KStars uses for its local time now (including DST).
        tz0_hours: the standard UTC offset of the location.
    """

    name: str
    lat_deg: float
    lon_deg: float
    tz_hours: float
    tz0_hours: float


class KStarsCalls(KStarsBus):
    """KStars' own calls: process id, version, location."""

    async def kstars_pid(self) -> int:
        """The process id of KStars (as the bus daemon knows it)."""
        await self.require_kstars()
        (pid,) = await self.call(_DBUS, "GetConnectionUnixProcessID", KSTARS_SERVICE, dest=_DBUS[1])
        return int(pid)

    async def kstars_version(self) -> str | None:
        """The running KStars' version ("3.6.2", ">=3.7.3"), or None (see :meth:`identify`)."""
        return (await self.identify()).version

    async def identify(self) -> KStarsIdentity:
        """Identify the running KStars over D-Bus, best evidence first.

        1. the read-only ``version`` property of ``/KStars`` (KStars 3.8);
        2. the KStars executable of the bus connection's process, run with ``--version``
           (only a KStars on this machine, in this PID namespace);
        3. feature probes (introspection): ``Capture.abort`` taking the optical train means
           3.7.3 or newer, ``Scheduler.jsonJobs`` 3.7.1 or newer.
        """
        try:
            value = str(await self.get_property(KSTARS_OBJ, "version"))
        except (EkosCommandFailed, EkosIncompatible):
            value = ""
        if re.match(r"\d+\.\d+", value):
            return KStarsIdentity(value, "the /KStars version property")
        exe_version, exe_how = await self._exe_version()
        if exe_version is not None:
            return KStarsIdentity(exe_version, exe_how)
        if 1 in await self.method_arities(CAPTURE_OBJ, "abort"):
            return KStarsIdentity(">=3.7.3", "Capture.abort(s) takes the optical train: 3.7.3+")
        if await self.has_property(SCHEDULER_OBJ, "jsonJobs"):
            return KStarsIdentity(">=3.7.1", "Scheduler.jsonJobs exists: 3.7.1+")
        return KStarsIdentity(None, _TRIED.format(exe=exe_how))

    async def _exe_version(self) -> tuple[str | None, str]:
        pid = await self.kstars_pid()
        try:
            exe = Path(f"/proc/{pid}/exe").resolve(strict=True)
        except OSError:
            return None, f"the process {pid} cannot be read (another namespace or host?)"
        if "kstars" not in exe.name.lower():
            return None, f"the bus name's process runs {exe}, not a kstars executable"
        version = await self._run_version(exe)
        how = f"{exe} --version"
        return version, how if version else f"{how} said no version"

    async def _run_version(self, exe: Path) -> str | None:
        try:
            proc = await asyncio.create_subprocess_exec(
                str(exe),
                "--version",
                env={"QT_QPA_PLATFORM": "offscreen", "LC_ALL": "C"},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout_s)
        except (OSError, asyncio.TimeoutError):
            return None
        m = re.search(r"(\d+\.\d+\.\d+)", out.decode("utf-8", "replace"))
        return m.group(1) if m else None

    async def location(self) -> KStarsLocation:
        """KStars' geographic location.

        Raises:
            EkosCommandFailed: KStars answered something that is not the expected JSON.
        """
        (text,) = await self.call(KSTARS_OBJ, "location")
        try:
            data = json.loads(text)
            return KStarsLocation(
                name=str(data.get("name", "")),
                lat_deg=float(data["latitude"]),
                lon_deg=float(data["longitude"]),
                tz_hours=float(data.get("tz", 0.0)),
                tz0_hours=float(data.get("tz0", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise EkosCommandFailed(f"KStars reported an unreadable location: {text!r}.") from exc

    async def set_gps_location(
        self, lat_deg: float, lon_deg: float, elevation_m: float, tz_hours: float = 0.0
    ) -> None:
        """Set KStars' geographic location (shown as "GPS Location").

        KStars 3.6.2 ignores ``tz_hours`` and gives the location the time zone of the place
        (OBSERVED: Greenwich 0, Sydney +10, Santiago -4); read it back with :meth:`location`.
        KStars' local time, in which scheduler StartAt times are read, follows that zone.

        Raises:
            EkosCommandFailed: KStars refused the location.
        """
        (ok,) = await self.call(
            KSTARS_OBJ, "setGPSLocation", lon_deg, lat_deg, elevation_m, tz_hours
        )
        require(ok, f"KStars refused the location {lat_deg},{lon_deg},{elevation_m}")
