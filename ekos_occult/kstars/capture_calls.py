"""Calls to the Ekos capture module (``/KStars/Ekos/Capture``): state, camera, abort."""

from __future__ import annotations

from ekos_occult.kstars.bus import CAPTURE_OBJ, KStarsBus
from ekos_occult.kstars.states import CaptureState, state_from_code

__all__ = ["CaptureCalls"]


class CaptureCalls(KStarsBus):
    """The Ekos capture module: its state, its camera, abort."""

    async def capture_status(self) -> CaptureState:
        """The capture module's state."""
        return state_from_code(
            CaptureState, await self.get_property(CAPTURE_OBJ, "status"), self.version
        )

    async def camera_name(self) -> str:
        """The INDI name of the camera Ekos captures with ("" when none)."""
        return str(await self.get_property(CAPTURE_OBJ, "camera"))

    async def abort_capture(self) -> None:
        """Abort the capture in progress, if any."""
        await self.call(CAPTURE_OBJ, "abort")
