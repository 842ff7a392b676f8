"""The user's scheduler options, put back when the night ends however it ends.

Loading our per-event schedules rewrites KStars' global scheduler options (error handling;
park/unpark procedures on 3.6/3.7.x; the startup/shutdown task queues on 3.8). Their values
are read from the kstarsrc before the night (:func:`~ekos_occult.kstars.scheduleroptions.
save_options`); :func:`scheduler_options_kept` wraps the night and, at its end, on an error
and on Ctrl-C alike, puts them back: in KStars' memory by loading a schedule without jobs that
carries them (the scheduler stopped first if it runs; its queue emptied after), and in the
kstarsrc for the keys KStars wrote during the night. It says what it did, line by line.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from ekos_occult.ekosfiles.formats import KStarsFormat
from ekos_occult.ekosfiles.render import render_options_restore
from ekos_occult.errors import EkosError, RenderError
from ekos_occult.files import write_atomic
from ekos_occult.kstars.client import EkosClient
from ekos_occult.kstars.scheduleroptions import SavedOptions, restore_context, write_back
from ekos_occult.kstars.states import is_scheduler_idle

__all__ = ["RESTORE_FILE", "restore_options", "scheduler_options_kept"]

RESTORE_FILE = "restore-scheduler-options.esl"
"""The job-less schedule that carries the user's options (in the night folder's jobs/)."""
_IDLE_WAIT_S = 10.0


async def restore_options(
    client: EkosClient, saved: SavedOptions, folder: Path, timeout_s: float = 30.0
) -> list[str]:
    """Put the user's scheduler options back in KStars and its kstarsrc.

    Returns:
        What was done, one line each, for the user (never raises: a failure is a line).
    """
    lines: list[str] = []
    context = restore_context(saved)
    try:
        text = render_options_restore(KStarsFormat(saved.file_format), context)
        path = folder / RESTORE_FILE
        write_atomic(path, text)
        await asyncio.wait_for(_load(client, path), timeout_s)
    except (EkosError, RenderError, OSError, asyncio.TimeoutError, ValueError) as exc:
        lines.append(
            f"KStars' scheduler options could not be put back ({exc or 'no answer'}): set "
            "them again in the scheduler's options"
        )
    else:
        what = f"error handling {context['strategy']} (delay {context['delay']} s)"
        if saved.file_format != "3.6":
            what += (
                f", startup queue {'on' if context['startup_enabled'] == 'true' else 'off'}, "
                f"shutdown queue {'on' if context['shutdown_enabled'] == 'true' else 'off'}"
            )
        lines.append(f"KStars' scheduler options put back as they were before the night: {what}")
    try:
        written = await asyncio.to_thread(write_back, saved)
    except OSError as exc:
        lines.append(f"{saved.path}: the scheduler options could not be written back: {exc}")
    else:
        if written:
            lines.append(f"{saved.path}: written back (only these keys): {', '.join(written)}")
    return lines


async def _load(client: EkosClient, path: Path) -> None:
    state = await client.scheduler_status()
    if not is_scheduler_idle(state):
        await client.stop_scheduler()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _IDLE_WAIT_S
        while not is_scheduler_idle(await client.scheduler_status()):
            if loop.time() > deadline:
                raise EkosError(f"the scheduler stayed {state.value} after stop")
            await asyncio.sleep(0.2)
    if not await client.load_schedule(path):
        raise EkosError(f"KStars refused {path}")
    await client.remove_all_jobs()


@asynccontextmanager
async def scheduler_options_kept(
    client: Callable[[], EkosClient],
    saved: SavedOptions | None,
    folder: Path,
    say: Callable[[str], None],
) -> AsyncIterator[None]:
    """Run the night inside; put the options back at its end, on an error and on Ctrl-C.

    Args:
        client: the current client (it changes when the night re-attaches).
        saved: the user's options read before the night; None: nothing to put back.
        folder: where the restoring schedule is written.
        say: one line for the user at a time.
    """
    try:
        yield
    finally:
        if saved is not None:
            for line in await restore_options(client(), saved, folder):
                say(line)
