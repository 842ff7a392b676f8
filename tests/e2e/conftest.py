"""End-to-end fixtures: ONE real headless KStars/Ekos (INDI simulators) per test session.

``sandbox`` starts it through :mod:`ekos_occult.kstars.sandbox` (the code users run) in a temporary
state directory and stops it at the end, asserting that no process of it is left. If KStars
cannot start, the fixture raises: e2e tests fail, they are never skipped.

``ekos_clean`` (use it in every e2e test that changes Ekos) puts Ekos back as it was found:
scheduler stopped and empty, capture aborted, video stream and recording off, mount unparked.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_helpers import Sandbox, ensure_ekos_up, restore_ekos, start_sandbox, stop_and_check

from ekos_occult.kstars.sandbox import read_state
from ekos_occult.kstars.states import ParkStatus


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/e2e as ``e2e``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def sandbox_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The session's KStars (started once)."""
    state_dir = tmp_path_factory.mktemp("sbx")
    state = start_sandbox(state_dir)
    try:
        yield Sandbox(state_dir, state.bus_address, state.display, state.site, state)
    finally:
        # A test may have restarted it (new processes, same state dir): stop the current one.
        stop_and_check(read_state(state_dir) or state)


@pytest.fixture
def sandbox(sandbox_session: Sandbox) -> Sandbox:
    """The running sandbox; fails the test if KStars died since the last test.

    Read again from its state file: a test may have restarted it (same state directory and bus
    socket, new processes), as the night fault test does.
    """
    state = read_state(sandbox_session.state_dir)
    assert state is not None and state.is_running(), (
        "the session's KStars sandbox is no longer running"
    )
    current = dataclasses.replace(
        sandbox_session, bus_address=state.bus_address, display=state.display, state=state
    )
    asyncio.run(ensure_ekos_up(current))  # an earlier test may have stopped Ekos
    return current


@pytest.fixture
def ekos_clean(sandbox: Sandbox) -> Iterator[None]:
    """Leave Ekos as this test found it."""

    async def parked() -> bool:
        async with sandbox.client() as ekos:
            return await ekos.park_status() == ParkStatus.PARKED

    was_parked = asyncio.run(parked())
    yield

    async def restore() -> None:
        async with sandbox.client() as ekos:
            await restore_ekos(ekos, await ekos.camera_name(), was_parked)

    asyncio.run(restore())
