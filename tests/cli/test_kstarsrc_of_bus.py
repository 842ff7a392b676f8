"""``run``/``check --bus ADDRESS`` read the kstarsrc of the KStars on that bus, not the caller's.

A process with its own HOME/XDG_CONFIG_HOME takes KStars' name on a private bus (as a sandbox's
or another user's KStars does); its config directory is found through the bus connection's
process id and ``/proc/PID/environ``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from privatebus import private_bus

from ekos_occult.app.check import kstars_config_home, kstarsrc_path
from ekos_occult.settings import Settings

pytestmark = pytest.mark.timeout(60)

_OWNER = """
import asyncio, sys
from dbus_next.aio import MessageBus
async def main():
    bus = await MessageBus(bus_address=sys.argv[1]).connect()
    await bus.request_name("org.kde.kstars")
    print("owned", flush=True)
    await asyncio.sleep(60)
asyncio.run(main())
"""


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    with private_bus(tmp_path / "bus") as address:
        yield address


def _own(address: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER, address], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "owned"
    return proc


def test_the_kstars_process_config_dir_is_used(bus: str, tmp_path: Path) -> None:
    other_home = tmp_path / "stellarmate-home"
    base = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "HOME")}
    proc = _own(bus, {**base, "HOME": str(other_home)})
    try:
        assert kstars_config_home(bus, 5.0) == other_home / ".config"
        path = kstarsrc_path(None, Settings(), bus)
        assert path == other_home / ".config" / "kstarsrc"
        assert path != Path.home() / ".config" / "kstarsrc"
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    proc = _own(bus, {**base, "HOME": str(other_home), "XDG_CONFIG_HOME": str(tmp_path / "x")})
    try:
        assert kstarsrc_path(None, Settings(), bus) == tmp_path / "x" / "kstarsrc"
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_no_kstars_on_the_bus_falls_back_and_kstarsrc_flag_wins(bus: str, tmp_path: Path) -> None:
    t0 = time.monotonic()
    assert kstars_config_home(bus, 5.0) is None
    assert time.monotonic() - t0 < 5
    assert kstarsrc_path(tmp_path / "rc", Settings(), bus) == tmp_path / "rc"
