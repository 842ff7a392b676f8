"""`sandbox start` when KStars dies while starting: it is started again, what it left is ended,
and a KStars that keeps dying (or hangs) is reported, never retried for ever.

The sandbox's own processes are stand-ins here (`sleep`): the real start is the e2e suite's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from ekos_occult.errors import SandboxError
from ekos_occult.kstars import procs, sandbox
from ekos_occult.kstars.sandbox_layout import Layout, SandboxState
from ekos_occult.model import Site

SITE = Site(48.2, 16.4, 190.0)
pytestmark = pytest.mark.timeout(60)


class Rig:
    """Stand-ins for Xvfb, the bus and KStars; ``crashes`` KStars starts die at once."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crashes: int) -> None:
        self.crashes = crashes
        self.started: list[procs.ProcessRecord] = []
        self.roots: list[procs.ProcessRecord] = []
        self.log = tmp_path / "procs.log"
        self.sleep = shutil.which("sleep") or "/bin/sleep"
        monkeypatch.setattr(sandbox, "check_binaries", lambda env: {})
        monkeypatch.setattr(sandbox, "_check_indi_socket_free", lambda: None)
        monkeypatch.setattr(sandbox._display, "start_display_and_bus", self.display_and_bus)
        monkeypatch.setattr(sandbox._kstars, "start_kstars", self.start_kstars)
        monkeypatch.setattr(sandbox._ekos, "bring_up_ekos", self.bring_up_ekos)

    def spawn(self, seconds: str) -> procs.ProcessRecord:
        return procs.spawn([self.sleep, seconds], {"PATH": os.defpath}, self.log)

    def display_and_bus(self, layout: Layout, *_: Any) -> SandboxState:
        layout.userdb.parent.mkdir(parents=True, exist_ok=True)
        layout.userdb.write_bytes(b"")  # no first start
        xvfb, dbus = self.spawn("60"), self.spawn("60")
        self.roots += [xvfb, dbus]
        return SandboxState(layout.state_dir, "unix:path=/nonexistent", ":99", SITE, "Simulators",
                            xvfb, dbus)  # fmt: skip

    def start_kstars(self, *_: Any) -> procs.ProcessRecord:
        rec = self.spawn("0" if len(self.started) < self.crashes else "60")
        self.started.append(rec)
        return rec

    async def bring_up_ekos(
        self, layout: Layout, state: SandboxState, timeout_s: float, say: Any
    ) -> tuple[list[str], float]:
        assert state.kstars is not None
        await asyncio.sleep(0.3)
        if not procs.is_alive(state.kstars):
            raise SandboxError(f"KStars (pid {state.kstars.pid}) exited before it could start.")
        return ["Telescope Simulator", "CCD Simulator", "Focuser Simulator"], 1.0


def _start(tmp_path: Path, lines: list[str]) -> tuple[SandboxState, bool]:
    return asyncio.run(sandbox.start(tmp_path / "state", SITE, {}, sky=False,
                                     progress=lines.append))  # fmt: skip


def test_a_kstars_that_dies_while_starting_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, monkeypatch, crashes=2)
    lines: list[str] = []
    try:
        state, already = _start(tmp_path, lines)
        assert not already and len(rig.started) == 3
        assert state.kstars == rig.started[-1] and procs.is_alive(state.kstars)
        said = [line for line in lines if "starting it again" in line]
        assert len(said) == 2 and "(1/2)" in said[0] and "(2/2)" in said[1]
        assert sandbox.read_state(tmp_path / "state") == state  # the live KStars recorded
    finally:
        sandbox.stop(tmp_path / "state", grace_s=2.0)
    assert not any(procs.is_alive(r) for r in [*rig.started, *rig.roots])


def test_a_kstars_that_keeps_dying_is_reported_and_everything_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = Rig(tmp_path, monkeypatch, crashes=sandbox.KSTARS_STARTS)
    with pytest.raises(SandboxError, match="did not come up: KStars .* exited"):
        _start(tmp_path, [])
    assert len(rig.started) == sandbox.KSTARS_STARTS
    assert len(rig.roots) == 2
    assert not any(procs.is_alive(r) for r in [*rig.started, *rig.roots])
