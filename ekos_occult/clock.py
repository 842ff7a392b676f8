"""The Clock port and SystemClock, the only code in ekos-occult that reads the wall clock or sleeps.

Everything else receives a :class:`Clock` (tests pass a fake one).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]

# Long waits are cut into slices and the wall clock is read again after each: asyncio sleeps on
# the monotonic clock, which can drift from UTC while NTP slews; re-reading keeps a wake-up hours
# ahead on time to the loop's resolution (about a millisecond).
_MAX_SLICE_S = 30.0


@runtime_checkable
class Clock(Protocol):
    """Wall time (UTC, timezone-aware) and sleeping; nothing else reads the clock."""

    def now(self) -> datetime:
        """The current UTC time, timezone-aware."""
        ...

    async def sleep_until(self, t: datetime) -> None:
        """Return at ``t`` (at once if ``t`` is not in the future)."""
        ...


class SystemClock:
    """UTC from the system clock; sleeps with asyncio."""

    def now(self) -> datetime:
        """The current UTC time, timezone-aware."""
        return datetime.now(timezone.utc)

    async def sleep_until(self, t: datetime) -> None:
        """Return at ``t`` (UTC, aware), at once if ``t`` has passed.

        Raises:
            ValueError: if ``t`` is naive.
        """
        if t.tzinfo is None:
            raise ValueError(f"sleep_until needs a timezone-aware time, not {t!r}.")
        while True:
            remaining = (t - self.now()).total_seconds()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, _MAX_SLICE_S))
