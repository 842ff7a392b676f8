"""Put a rendered night into the running Ekos scheduler, safely, and check what Ekos said.

The use-case behind ``ekos-occult load``: refuse to touch a running scheduler (KStars 3.6.2
replaces the queue under a running scheduler, which then captures without slewing) unless
``force`` stops it first; write the night's files; remove every job; load the ``.esl``; and read
what the scheduler logged while loading. KStars 3.6 has no D-Bus call that lists its jobs and
logs nothing for a file it accepts, so a load is judged by ``loadScheduler``'s answer and by the
problems the scheduler logs (a refused schedule raises
:class:`~ekos_occult.errors.EkosCommandFailed` quoting those lines). Loading twice leaves the
same jobs as loading once: the queue is emptied before each load.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from ekos_occult.clock import Clock
from ekos_occult.ekosfiles.jobs import JobSpec
from ekos_occult.errors import EkosCommandFailed, EkosTimeout
from ekos_occult.kstars.client import EkosClient
from ekos_occult.kstars.events import EkosSignal
from ekos_occult.kstars.states import SchedulerState, is_scheduler_idle

__all__ = [
    "NightFiles",
    "LoadReport",
    "load_actions",
    "is_problem_line",
    "make_idle",
    "load_night",
]

STOP_TIMEOUT_S = 30.0
"""How long a stopped scheduler may take to become idle (3.6.2: well under a second)."""
_POLL_S = 0.2
_PROBLEM = re.compile(
    r"warning|error|invalid|unable|could not|cannot|can't|fail|not found|required|does not match",
    re.IGNORECASE,
)


class NightFiles(Protocol):
    """What the loader needs of a rendered night (``render.RenderedNight`` has it)."""

    @property
    def jobs(self) -> tuple[JobSpec, ...]: ...


@dataclass(frozen=True)
class LoadReport:
    """What a load did and what Ekos said.

    Attributes:
        schedule: the ``.esl`` Ekos loaded (absolute path).
        files: every file written (sequences, then the schedule).
        jobs: the jobs in that file, in start order.
        ekos_log: the scheduler's log lines sent while the queue was emptied and loaded
            (KStars 3.6 sends none for a file it accepts).
        stopped: the scheduler state that ``force`` stopped, None when it was idle.
        status: the scheduler state after loading.
        load_s: how long emptying the queue and loading took.
    """

    schedule: Path
    files: tuple[Path, ...]
    jobs: tuple[JobSpec, ...]
    ekos_log: tuple[str, ...]
    stopped: SchedulerState | None
    status: SchedulerState
    load_s: float


def load_actions(schedule: Path, *, force: bool, start_ekos: bool, bus: str) -> list[str]:
    """The steps :func:`load_night` takes after the readiness checks, for ``--dry-run``."""
    running = (
        "stop it and wait until it is idle (--force)"
        if force
        else "refuse to continue (give --force to stop it)"
    )
    ekos = (
        "open Ekos and start its profile if it is not running (--start-ekos)"
        if start_ekos
        else "check that Ekos runs its profile with every device connected"
    )
    return [
        f"connect to the D-Bus session bus {bus}",
        "check that KStars is on the bus; ask its version and its location's time zone",
        ekos,
        "check that Ekos' Capture module has a camera",
        f"if the Ekos scheduler is running: {running}",
        f"write the night's files, the schedule last: {schedule}",
        "remove every job from the Ekos scheduler",
        f"load {schedule} into the Ekos scheduler (start times in KStars' local time)",
        "read what the scheduler logged while loading; fail on any problem it reports",
    ]


def is_problem_line(line: str) -> bool:
    """Whether a scheduler log line reports a problem with the loaded file."""
    return bool(_PROBLEM.search(line))


async def _pause(clock: Clock, seconds: float) -> None:
    await clock.sleep_until(clock.now() + timedelta(seconds=seconds))


async def make_idle(
    client: EkosClient, *, force: bool, clock: Clock, timeout_s: float = STOP_TIMEOUT_S
) -> SchedulerState | None:
    """Make sure the scheduler runs no job before its queue is replaced.

    Returns:
        The state that was stopped, or None when the scheduler was already idle.

    Raises:
        EkosCommandFailed: it is busy and ``force`` is false.
        EkosTimeout: it did not become idle within ``timeout_s`` of ``stop``.
    """
    state = await client.scheduler_status()
    if is_scheduler_idle(state):
        return None
    if not force:
        raise EkosCommandFailed(
            f"The Ekos scheduler is {state.value}: loading now would replace its jobs under it "
            "(KStars then captures without slewing). Stop it in Ekos, or give --force to stop "
            "it first."
        )
    await client.stop_scheduler()
    deadline = clock.now() + timedelta(seconds=timeout_s)
    while not is_scheduler_idle(now_state := await client.scheduler_status()):
        if clock.now() >= deadline:
            raise EkosTimeout(
                f"The Ekos scheduler was asked to stop but is still {now_state.value} after "
                f"{timeout_s:g} s; nothing was loaded."
            )
        await _pause(clock, _POLL_S)
    return state


def _refused(schedule: Path, answered: bool, lines: Sequence[str]) -> EkosCommandFailed:
    quoted = "\n".join(f"  {line}" for line in lines) or "  (it logged nothing)"
    what = (
        f"Ekos could not read the schedule {schedule}"
        if not answered
        else f"Ekos loaded the schedule {schedule} but reported problems with it"
    )
    return EkosCommandFailed(
        f"{what}. The Ekos scheduler logged:\n{quoted}\n"
        "Its queue may now be incomplete; fix the file (or report a bug in ekos-occult) and "
        "load again."
    )


async def _load(client: EkosClient, schedule: Path) -> tuple[bool, tuple[str, ...]]:
    async with client.listen(EkosSignal.SCHEDULER_LOG) as stream:
        await client.remove_all_jobs()
        answered = await client.load_schedule(schedule)
        # KStars emits its log signals before it replies, and D-Bus keeps one sender's messages
        # in order: after this round trip every line logged during the load has arrived.
        await client.scheduler_status()
        lines = tuple(str(e.value) for e in stream.drain())
    return answered, lines


async def load_night(
    client: EkosClient,
    night: NightFiles,
    write: Callable[[], tuple[Path, ...]],
    *,
    force: bool,
    clock: Clock,
) -> LoadReport:
    """Replace the Ekos scheduler's jobs with the night's, and check what Ekos said.

    Args:
        client: a connected adapter whose Ekos passed the readiness checks
            (:func:`ekos_occult.kstars.readiness.ensure_ekos_ready`).
        night: the rendered night (its jobs are reported).
        write: writes the night's files and returns their paths, the schedule last (called
            only once the scheduler is known to be idle).
        force: stop a running scheduler first instead of refusing.
        clock: for the stop wait and the load timing.

    Returns:
        The :class:`LoadReport`.

    Raises:
        EkosCommandFailed: the scheduler is busy (without ``force``), or Ekos refused the file
            or logged a problem while loading it (its lines are quoted).
        EkosTimeout: the scheduler did not stop in time, or a call did not answer.
        OutputError: the files could not be written (Ekos was not changed).
    """
    stopped = await make_idle(client, force=force, clock=clock)
    files = write()
    schedule = files[-1]
    started = clock.now()
    answered, lines = await _load(client, schedule)
    load_s = _seconds(started, clock.now())
    if not answered or any(is_problem_line(line) for line in lines):
        raise _refused(schedule, answered, lines)
    status = await client.scheduler_status()
    return LoadReport(schedule, files, night.jobs, lines, stopped, status, load_s)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())
