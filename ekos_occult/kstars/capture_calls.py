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
        """Abort the capture in progress, if any: every camera's.

        KStars 3.7.3+ takes the optical train (``abort(s)``, empty = all cameras), older ones
        take nothing; which one this KStars has is probed once per connection (introspection).
        """
        if await self.capture_takes_train():
            await self.call(CAPTURE_OBJ, "abort", "")
        else:
            await self.call(CAPTURE_OBJ, "abort")

    async def capture_takes_train(self) -> bool:
        """Whether ``Capture.abort`` takes the optical train (KStars 3.7.3 or newer)."""
        cached = self._probes.get("abort(s)")
        if cached is None:
            cached = 1 in await self.method_arities(CAPTURE_OBJ, "abort")
            if cached or await self.has_interface(*CAPTURE_OBJ):
                self._probes["abort(s)"] = cached  # only once Capture is there to ask
        return cached
