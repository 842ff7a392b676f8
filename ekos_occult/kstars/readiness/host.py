"""Readiness checks of the observing host and site: KStars' location against the configured
site, the system clock's synchronisation (``timedatectl``/``chronyc``), free disk space, and
KStars' first connect to its INDI server (read from KStars' log).

Pure where it can be: each check takes values (a location, tool output, a byte count, log
lines) and returns a :class:`~ekos_occult.kstars.readiness.verdicts.Check`; :func:`run_tool` and
:func:`kstars_log_lines` do the reading.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from ekos_occult.errors import SandboxError
from ekos_occult.files import format_bytes
from ekos_occult.kstars.client import KStarsLocation
from ekos_occult.kstars.readiness.verdicts import Check, Verdict
from ekos_occult.model import Site
from ekos_occult.sphere import ground_distance_km

__all__ = [
    "location_check",
    "run_tool",
    "clock_check",
    "disk_check",
    "indi_connect_check",
    "kstars_log_lines",
]

_SITE_TOLERANCE_KM = 1.0
_CLOCK_TOLERANCE_S = 0.05
_MIN_MINUTES = 10.0
_ToolRunner = Callable[[Sequence[str]], "tuple[int, str] | None"]


def location_check(loc: KStarsLocation, site: Site | None) -> Check:
    """KStars' location against the configured site (Ekos computes altitudes from KStars')."""
    found = (
        f"KStars is at {loc.lat_deg:.4f},{loc.lon_deg:.4f} ({loc.name or 'unnamed'}, "
        f"UTC{loc.tz_hours:+g} h)"
    )
    if site is None:
        return Check(
            "site",
            Verdict.UNKNOWN,
            f"{found}; no site configured to compare with",
            "Give --site LAT,LON[,ELEV] or set [station] in the config file.",
        )
    km = ground_distance_km(loc.lat_deg, loc.lon_deg, site.lat_deg, site.lon_deg)
    if km <= _SITE_TOLERANCE_KM:
        return Check("site", Verdict.OK, f"{found}, {km:.2f} km from the configured site")
    return Check(
        "site",
        Verdict.WARNING,
        f"{found}, {km:.1f} km from the configured site {site}",
        "Set KStars' location (Settings > Geographic) to the site, or fix "
        "the configured site: plans and Ekos' altitudes must agree.",
    )


def run_tool(argv: Sequence[str], timeout_s: float = 5.0) -> tuple[int, str] | None:
    """Run a system tool; None when it is not installed (or does not answer)."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.returncode, done.stdout


def clock_check(run: _ToolRunner = run_tool) -> Check:
    """Is the system clock synchronised? (SER timestamps come from it on the INDI host.)"""
    out = run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    if out is not None and out[0] == 0 and out[1].strip() in ("yes", "no"):
        if out[1].strip() == "yes":
            return Check("clock", Verdict.OK, "timedatectl: NTP synchronised")
        return Check(
            "clock",
            Verdict.PROBLEM,
            "timedatectl: the clock is NOT synchronised",
            "Enable NTP (timedatectl set-ntp true, or chrony/gpsd for a GPS) and wait "
            "until it is synchronised: event times are only as good as this clock.",
        )
    out = run(["chronyc", "tracking"])
    if out is not None and out[0] == 0:
        return _chrony_verdict(out[1])
    return Check(
        "clock",
        Verdict.UNKNOWN,
        "neither timedatectl nor chronyc answered",
        "Check the clock's synchronisation yourself (NTP or GPS) before the night.",
    )


def _chrony_verdict(text: str) -> Check:
    leap = re.search(r"^Leap status\s*:\s*(.+)$", text, re.M)
    offset = re.search(r"^System time\s*:\s*([\d.]+) seconds (slow|fast)", text, re.M)
    if leap is None or offset is None:
        return Check("clock", Verdict.UNKNOWN, "chronyc tracking: unexpected output")
    seconds = float(offset.group(1))
    if leap.group(1).strip() != "Normal":
        return Check(
            "clock",
            Verdict.PROBLEM,
            f"chrony: {leap.group(1).strip()}",
            "chrony is not synchronised: check its sources (chronyc sources).",
        )
    verdict = Verdict.OK if seconds <= _CLOCK_TOLERANCE_S else Verdict.WARNING
    return Check(
        "clock",
        verdict,
        f"chrony: synchronised, {seconds:.4f} s {offset.group(2)}",
        "" if verdict is Verdict.OK else "Wait until chrony has slewed the clock.",
    )


def disk_check(
    free: int, where: Path, need: int | None = None, rate_bytes_per_s: float | None = None
) -> Check:
    """Free space for the night's recordings: against ``need`` when known, else in minutes."""
    have = f"{format_bytes(free)} free in {where}"
    if need is not None:
        if free >= need:
            return Check("disk", Verdict.OK, f"{have}; the night needs about {format_bytes(need)}")
        return Check(
            "disk",
            Verdict.PROBLEM,
            f"{have}; the night needs about {format_bytes(need)}",
            "Free some space, record to another disk (--out) or use a smaller ROI.",
        )
    if not rate_bytes_per_s:
        return Check("disk", Verdict.OK, have)
    minutes = free / rate_bytes_per_s / 60.0
    verdict = Verdict.OK if minutes >= _MIN_MINUTES else Verdict.WARNING
    return Check(
        "disk",
        verdict,
        f"{have}: about {minutes:.0f} min of full-frame video at 10 frames/s",
        "" if verdict is Verdict.OK else "Free some space before the night.",
    )


# ---------------------------------------------------------------------- INDI connect race
_CONNECT = "creating new connection"
_STARTING = "Starting INDI services"
_STARTED = "INDI services started on port"


def indi_connect_check(lines: Sequence[str], source: str) -> Check:
    """Did KStars' first connect to its own INDI server succeed (the last Ekos start)?

    KStars 3.6.2 connects to the ``indiserver`` it has just started; when that first connect
    fails, libindiclient logs "creating new connection" a second time before Ekos logs "INDI
    services started on port N", and KStars keeps a null client manager for the devices for
    the whole session: Align's capture-and-solve and ``INDI.sendProperty`` then crash KStars
    (SIGSEGV in libindiclient, OBSERVED). Slow machines lose this race more often.

    Args:
        lines: KStars' log (its stderr, or its log file), oldest first.
        source: where the lines come from (named in the verdict).
    """
    start = max((i for i, ln in enumerate(lines) if _STARTING in ln), default=-1)
    tail = lines[start + 1 :] if start >= 0 else lines
    end = next((i for i, ln in enumerate(tail) if _STARTED in ln), None)
    if end is None:
        return Check("indi connect", Verdict.UNKNOWN, f"{source}: no Ekos start of INDI logged")
    tries = sum(1 for ln in tail[:end] if _CONNECT in ln)
    if tries == 0:
        return Check(
            "indi connect",
            Verdict.UNKNOWN,
            f"{source}: libindiclient's connection lines are not in this log",
        )
    if tries == 1:
        return Check("indi connect", Verdict.OK, f"one clean connect to the INDI server ({source})")
    return Check(
        "indi connect",
        Verdict.PROBLEM,
        f"KStars needed {tries} tries to connect to its INDI server at the last Ekos start "
        f"({source}): KStars 3.6.2 then keeps a null client manager for this session, and "
        "Align or INDI.sendProperty crash it (SIGSEGV in libindiclient)",
        "Stop and start the Ekos profile until the log shows one connect; to avoid the race, "
        "give the profile's first driver a start delay (Profile Editor > Scripts > Pre "
        "start delay, 3 s).",
    )


def kstars_log_lines(bus: str, sandbox_dirs: Sequence[Path], home: Path) -> tuple[list[str], str]:
    """KStars' log for the KStars on ``bus``: a sandbox's ``logs/kstars.log``, else the newest
    of KStars' own log files (``~/.local/share/kstars/logs``, when file logging is on).

    Returns:
        (lines, where); no lines when no log is found.
    """
    from ekos_occult.kstars.sandbox import read_state

    candidates: list[Path] = []
    for d in sandbox_dirs:
        try:
            state = read_state(d)
        except SandboxError:
            continue
        if state is not None and state.bus_address == bus:
            candidates.append(d / "logs" / "kstars.log")
    logs = sorted(
        (home / ".local" / "share" / "kstars" / "logs").glob("*/log_*.txt"),
        key=lambda p: p.stat().st_mtime,
    )
    candidates += logs[-1:]
    for path in candidates:
        try:
            return path.read_text(encoding="utf-8", errors="replace").splitlines(), str(path)
        except OSError:
            continue
    return [], ""
