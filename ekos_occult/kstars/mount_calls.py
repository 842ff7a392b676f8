"""Calls to the Ekos mount module (``/KStars/Ekos/Mount``): state, park, pointing."""

from __future__ import annotations

from ekos_occult.kstars.bus import MOUNT_OBJ, KStarsBus, require
from ekos_occult.kstars.states import MountStatus, ParkStatus, state_from_code

__all__ = ["MountCalls"]


class MountCalls(KStarsBus):
    """The Ekos mount module: its state, park/unpark and where it points."""

    async def mount_status(self) -> MountStatus:
        """The mount's state."""
        return state_from_code(
            MountStatus, await self.get_property(MOUNT_OBJ, "status"), self.version
        )

    async def park_status(self) -> ParkStatus:
        """The mount's park state."""
        return state_from_code(
            ParkStatus, await self.get_property(MOUNT_OBJ, "parkStatus"), self.version
        )

    async def park_mount(self) -> None:
        """Start parking the mount. Raises EkosCommandFailed when refused."""
        (ok,) = await self.call(MOUNT_OBJ, "park")
        require(ok, "The mount refused to park")

    async def unpark_mount(self) -> None:
        """Start unparking the mount. Raises EkosCommandFailed when refused."""
        (ok,) = await self.call(MOUNT_OBJ, "unpark")
        require(ok, "The mount refused to unpark")

    async def mount_equatorial(self) -> tuple[float, float]:
        """Where the mount points: (RA hours, Dec degrees), JNow."""
        ra, dec = await self.get_property(MOUNT_OBJ, "equatorialCoords")
        return float(ra), float(dec)
