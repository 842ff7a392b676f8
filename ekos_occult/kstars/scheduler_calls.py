"""Calls to the Ekos scheduler (``/KStars/Ekos/Scheduler``): state, load, start, stop, log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ekos_occult.errors import EkosCommandFailed, EkosIncompatible
from ekos_occult.kstars.bus import SCHEDULER_OBJ, KStarsBus
from ekos_occult.kstars.states import SchedulerState, state_from_code

__all__ = ["SchedulerCalls"]


class SchedulerCalls(KStarsBus):
    """The Ekos scheduler's queue and state."""

    async def scheduler_status(self) -> SchedulerState:
        """The scheduler's state."""
        return state_from_code(
            SchedulerState, await self.get_property(SCHEDULER_OBJ, "status"), self.version
        )

    async def load_schedule(self, path: Path) -> bool:
        """Load an ``.esl`` file into the scheduler (replacing its jobs).

        KStars answers true for almost any file and reports problems in its log only; false
        means the file was unreadable or not XML. Stop the scheduler first: loading while it
        runs corrupts the queue.

        Args:
            path: the file; made absolute here because KStars resolves it on its side.
        """
        (ok,) = await self.call(SCHEDULER_OBJ, "loadScheduler", str(Path(path).absolute()))
        return bool(ok)

    async def start_scheduler(self) -> None:
        """Start (or wake) the scheduler."""
        await self.call(SCHEDULER_OBJ, "start")

    async def stop_scheduler(self) -> None:
        """Stop the scheduler. It acts only while the scheduler runs; 3.7+ then reports idle
        (never "aborted")."""
        await self.call(SCHEDULER_OBJ, "stop")

    async def remove_all_jobs(self) -> None:
        """Remove every job from the scheduler queue."""
        await self.call(SCHEDULER_OBJ, "removeAllJobs")

    async def scheduler_jobs(self) -> list[dict[str, Any]] | None:
        """The scheduler's jobs as KStars 3.7.1+ reports them (``jsonJobs``): per job its
        ``name``, integer ``state`` (0 idle ... 7 complete) and ``stage`` (0 idle ... 14
        complete), language-independent. None when this KStars has no ``jsonJobs``."""
        if self._probes.get("no jsonJobs"):
            return None
        try:
            text = str(await self.get_property(SCHEDULER_OBJ, "jsonJobs"))
        except (EkosCommandFailed, EkosIncompatible):
            self._probes["no jsonJobs"] = await self.has_interface(*SCHEDULER_OBJ)
            return None
        try:
            data = json.loads(text) if text.strip() else []
        except ValueError as exc:
            raise EkosCommandFailed(
                f"KStars reported unreadable jsonJobs: {text[:200]!r}."
            ) from exc
        return [j for j in data if isinstance(j, dict)] if isinstance(data, list) else []

    async def scheduler_current_job(self) -> dict[str, Any] | None:
        """The job the scheduler runs now, as KStars 3.7.1+ reports it (``currentJobJson``:
        name, integer state and stage); None when no job runs or this KStars has no such
        property."""
        if self._probes.get("no jsonJobs"):
            return None
        try:
            text = str(await self.get_property(SCHEDULER_OBJ, "currentJobJson"))
        except (EkosCommandFailed, EkosIncompatible):
            return None
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError:
            return None
        return data if isinstance(data, dict) and data.get("name") else None

    async def scheduler_log(self) -> list[str]:
        """The scheduler's log lines, newest first (``yyyy-MM-ddThh:mm:ss text``)."""
        return [str(s) for s in await self.get_property(SCHEDULER_OBJ, "logText")]
