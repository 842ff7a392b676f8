"""A private dbus-daemon session bus for tests that need a real bus (fake KStars, empty bus)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def private_bus(socket: Path) -> Iterator[str]:
    """Run ``dbus-daemon --session`` on ``socket``; yield its address; stop it afterwards."""
    daemon = shutil.which("dbus-daemon")
    assert daemon, "dbus-daemon is needed (Debian package dbus)"
    proc = subprocess.Popen(
        [
            daemon,
            "--session",
            "--nofork",
            "--nopidfile",
            f"--address=unix:path={socket}",
            "--print-address=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
