"""Calls to KStars itself (``/KStars``): its process, version and geographic location."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.errors import EkosCommandFailed
from ekos_occult.kstars.bus import KSTARS_OBJ, KSTARS_SERVICE, KStarsBus, require

__all__ = ["KStarsCalls", "KStarsLocation"]

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
        """The running KStars' version ("3.6.2"), or None when it cannot be told.

        KStars has no version call on D-Bus; this asks the bus for KStars' process id and runs
        that executable with ``--version``, so it works only for a KStars on this machine.
        """
        pid = await self.kstars_pid()
        try:
            exe = Path(f"/proc/{pid}/exe").resolve(strict=True)
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
