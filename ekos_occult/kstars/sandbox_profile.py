"""KStars' user database in the sandbox (``userdb.sqlite``, where Ekos keeps its equipment
profiles): a second profile so Ekos has no reason to run its first-start wizard, and a start-up
delay on the profile's first driver so KStars' first INDI connect cannot fail."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

from ekos_occult.kstars.sandbox_layout import Layout

__all__ = [
    "FIRST_DRIVER_DELAY_S",
    "delay_first_driver",
    "copy_simulators_profile",
    "avoid_profile_wizard",
]

_WIZARD_PROFILE = "Simulators (sandbox copy)"


def copy_simulators_profile(db_path: Path, profile: str = "Simulators") -> bool:
    """Add a second profile, a copy of "Simulators", to KStars' user database, and give
    ``profile``'s first driver a start-up delay (see :func:`delay_first_driver`).

    Ekos opens a modal profile wizard when it finds exactly one profile; on a headless display
    nobody closes it. Returns True when the database has more than one profile afterwards.
    """
    db = sqlite3.connect(str(db_path), timeout=5.0)
    try:
        copied = _copy_profile_rows(db)
        if copied:
            delay_first_driver(db, profile)
        return copied
    finally:
        db.close()


FIRST_DRIVER_DELAY_S = 3
"""Seconds KStars waits before starting a profile's first driver (its profile scripts)."""


def delay_first_driver(db: sqlite3.Connection, profile: str) -> bool:
    """Give ``profile``'s first driver a ``PreDelay`` in KStars' profile scripts.

    KStars 3.6.2 starts ``indiserver`` and connects to it at once; when that first connect
    fails (the log shows two "creating new connection" lines before "INDI services started on
    port N"), the retry leaves the driver's client manager null for the whole session, and
    Align's capture-and-solve or ``INDI.sendProperty`` later dereference it (SIGSEGV at 0x18 in
    libindiclient, OBSERVED). With the profile's first driver started a few seconds late, the
    server is up before KStars' client connects: one clean connect (OBSERVED). KStars keeps
    profile scripts as a JSON array in ``profile.scripts``. Returns True when set.
    """
    with db:
        row = db.execute("SELECT id FROM profile WHERE name = ?", (profile,)).fetchone()
        if row is None:
            return False
        first = db.execute(
            "SELECT label FROM driver WHERE profile = ? ORDER BY id LIMIT 1", (row[0],)
        ).fetchone()
        if first is None:
            return False
        rule = {
            "Driver": str(first[0]),
            "PreDelay": FIRST_DRIVER_DELAY_S,
            "PreScript": "",
            "PostDelay": 0,
            "PostScript": "",
            "StoppingDelay": 0,
            "StoppingScript": "",
            "StoppedDelay": 0,
            "StoppedScript": "",
        }
        db.execute("UPDATE profile SET scripts = ? WHERE id = ?", (json.dumps([rule]), row[0]))
    return True


def _copy_profile_rows(db: sqlite3.Connection) -> bool:
    with db:  # one transaction
        names = [r[0] for r in db.execute("SELECT name FROM profile")]
        if len(names) > 1:
            return True
        if "Simulators" not in names:
            return False
        cols = [r[1] for r in db.execute("PRAGMA table_info(profile)") if r[1] != "id"]
        select_cols = ", ".join("?" if c == "name" else c for c in cols)
        db.execute(
            f"INSERT INTO profile ({', '.join(cols)}) SELECT {select_cols} FROM profile "
            "WHERE name = 'Simulators'",
            (_WIZARD_PROFILE,),
        )
        new_id, old_id = (
            db.execute("SELECT id FROM profile WHERE name = ?", (n,)).fetchone()[0]
            for n in (_WIZARD_PROFILE, "Simulators")
        )
        db.execute(
            "INSERT INTO driver (label, role, profile) SELECT label, role, ? FROM driver "
            "WHERE profile = ?",
            (new_id, old_id),
        )
    return True


async def avoid_profile_wizard(layout: Layout, timeout_s: float, profile: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if layout.userdb.exists() and copy_simulators_profile(layout.userdb, profile):
                return
        except sqlite3.Error:
            pass  # KStars is still creating the database
        await asyncio.sleep(0.25)
