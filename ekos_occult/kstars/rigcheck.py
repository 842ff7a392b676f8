"""Is the rig ready for an unattended night? Each check gives a verdict and, if needed, a fix.

Checks: KStars and Ekos reachable, devices connected, the camera's video-stream recording
properties and SER recorder, the KStars settings that would end or spoil the night (read from
kstarsrc), KStars' location against the configured site, the system clock's synchronisation
(``timedatectl``/``chronyc``) and free disk space. The pure parts (kstarsrc verdicts, clock tool
output, disk) take values; :func:`check_rig` asks KStars through the adapter.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ekos_occult.errors import EkosError, SandboxError
from ekos_occult.files import format_bytes
from ekos_occult.kstars.client import EkosClient, KStarsLocation
from ekos_occult.kstars.states import CommunicationStatus
from ekos_occult.model import Site
from ekos_occult.sphere import ground_distance_km

__all__ = [
    "Verdict",
    "Check",
    "RECORDING_PROPERTIES",
    "read_kstarsrc",
    "kstars_settings_checks",
    "night_ending",
    "location_check",
    "clock_check",
    "disk_check",
    "check_rig",
    "run_tool",
    "to_json_ready",
    "default_kstarsrc",
]

RECORDING_PROPERTIES = (
    "CCD_VIDEO_STREAM",
    "STREAMING_EXPOSURE",
    "RECORD_FILE",
    "RECORD_OPTIONS",
    "RECORD_STREAM",
)
"""INDI properties a camera needs for timed stream recording (CCD_STREAM_FRAME is optional)."""
_SITE_TOLERANCE_KM = 1.0
_CLOCK_TOLERANCE_S = 0.05
_MIN_MINUTES = 10.0
_ToolRunner = Callable[[Sequence[str]], "tuple[int, str] | None"]


class Verdict(str, Enum):
    """How a check came out; only ``problem`` makes ``check`` fail."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, what was found, and what to do about it."""

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""
    night_ending: bool = False  # a setting that would end the night after the first event


# ---------------------------------------------------------------------- kstarsrc
def read_kstarsrc(path: Path) -> dict[str, dict[str, str]] | None:
    """KStars' settings file as {group: {key: value}}; None when the file does not exist.

    Read as KDE reads its config files: ``[Group]`` lines, ``Key=Value`` lines (a ``Key[$e]``
    or ``Key[de]`` suffix dropped), ``#`` comments; a line that is none of these is skipped, as
    KDE skips it, rather than refusing the whole file. Bytes that are not UTF-8 are replaced.

    Raises:
        OSError: the file exists but cannot be read (e.g. it is a folder).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    groups: dict[str, dict[str, str]] = {}
    current = groups.setdefault("<default>", {})
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]") and "=" not in line:
            current = groups.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        key = re.sub(r"\[[^\]]*\]$", "", key.strip())  # KDE's Key[$e], Key[de]
        if sep and key:
            current[key] = value.strip()
    return {g: keys for g, keys in groups.items() if keys or g != "<default>"}


def _flag(groups: Mapping[str, Mapping[str, str]], group: str, key: str, default: bool) -> bool:
    value = groups.get(group, {}).get(key)
    return default if value is None else value.strip().lower() in ("true", "1", "yes", "on")


def kstars_settings_checks(
    groups: Mapping[str, Mapping[str, str]] | None,
    path: Path,
    kstars_version: str | None = None,
) -> list[Check]:
    """Verdicts on the settings that matter for one-job-per-event nights.

    Which keys exist depends on the version: ``SchedulerParkMount`` is gone on 3.8 (its
    scheduler has task queues instead, which ekos-occult's files switch off);
    ``[indi] timeSource``/``locationSource`` exist from 3.7.

    Args:
        groups: the parsed kstarsrc (None: file missing, KStars' defaults apply).
        path: the file, named in the advice.
        kstars_version: the running KStars' version ("3.8.1", ">=3.7.3"), None when unknown.
    """
    checks = _scheduler_checks(groups, path, kstars_version)
    return [*checks, *_time_source_checks(groups or {}, path)]


def _version_at_least(version: str | None, major: int, minor: int) -> bool:
    m = re.search(r"(\d+)\.(\d+)", version or "")
    return m is not None and (int(m.group(1)), int(m.group(2))) >= (major, minor)


def _time_source_checks(g: Mapping[str, Mapping[str, str]], path: Path) -> list[Check]:
    """KStars 3.7+ may take its time and location from a mount or GPS during the night."""
    found = []
    for key, what in (("timeSource", "time"), ("locationSource", "location")):
        value = g.get("indi", {}).get(key, "").strip()
        if value and value.lower() != "kstars":
            found.append(
                Check(
                    f"kstars: {what} source",
                    Verdict.WARNING,
                    f"{path} [indi]: {key}={value}: KStars' {what} (and its time zone) follow "
                    "that device during the night. `run` starts each job itself (ASAP), so it "
                    "is not affected; the fixed StartAt times of `load`'s whole-night file "
                    "are read in KStars' zone of the moment and may be off by its change.",
                    f"Set {key}=KStars under [indi] (Ekos > INDI options) with KStars closed, "
                    "or use `run` rather than `load`.",
                )
            )
    return found


def _scheduler_checks(
    groups: Mapping[str, Mapping[str, str]] | None, path: Path, kstars_version: str | None
) -> list[Check]:
    g = groups or {}
    where = f"{path} [Scheduler]" if groups is not None else f"{path} (missing: KStars defaults)"
    quit_ekos = _flag(g, "Scheduler", "StopEkosAfterShutdown", True)
    park = _flag(g, "Scheduler", "SchedulerParkMount", False)
    park_exists = not _version_at_least(kstars_version, 3, 8)
    remember = _flag(g, "Scheduler", "RememberJobProgress", True)
    quit_fix = (
        "Quit KStars, then set StopEkosAfterShutdown=false under [Scheduler] in "
        f"{path} (or untick Scheduler > Options > 'Stop Ekos after shutdown') and start "
        "KStars again; editing it while KStars runs has no effect."
    )
    return [
        Check(
            "kstars: Ekos stays up after a job",
            Verdict.PROBLEM if quit_ekos else Verdict.OK,
            f"{where}: StopEkosAfterShutdown={'true' if quit_ekos else 'false'}"
            + (
                ": after each event's job Ekos disconnects INDI and stops, nothing is left "
                "to record with"
                if quit_ekos
                else ""
            ),
            quit_fix if quit_ekos else "",
            night_ending=quit_ekos,
        ),
        _park_check(park, park_exists, where),
        Check(
            "kstars: repeated targets are observed",
            Verdict.WARNING if remember else Verdict.OK,
            f"{where}: RememberJobProgress={'true' if remember else 'false'}"
            + (
                ": Ekos skips a job whose frames already exist (ekos-occult's job names are "
                "unique per event, so only a re-run of the same night is affected)"
                if remember
                else ""
            ),
            "Set RememberJobProgress=false under [Scheduler] with KStars closed."
            if remember
            else "",
        ),
    ]


def _park_check(park: bool, exists: bool, where: str) -> Check:
    name = "kstars: no parking between jobs"
    if not exists:
        return Check(
            name,
            Verdict.OK,
            f"{where}: SchedulerParkMount does not exist on KStars 3.8 (the shutdown task "
            "queue parks instead; ekos-occult's files turn it off)",
        )
    return Check(
        name,
        Verdict.PROBLEM if park else Verdict.OK,
        f"{where}: SchedulerParkMount={'true' if park else 'false'}"
        + (
            ": KStars 3.7 parks the mount when the queue empties, so it is off the "
            "star when the recording starts (3.6 follows the empty shutdown procedure of "
            "ekos-occult's files)"
            if park
            else ""
        ),
        (
            "Set SchedulerParkMount=false under [Scheduler] (untick 'Park Mount' in the "
            "scheduler's shutdown procedure) with KStars closed."
        )
        if park
        else "",
    )


def night_ending(checks: Sequence[Check]) -> list[Check]:
    """The checks whose setting would end the night after the first event."""
    return [c for c in checks if c.night_ending]


# ---------------------------------------------------------------------- site, clock, disk
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
            "Give --site LAT,LON,ELEV or set [site] in the config file.",
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


# ---------------------------------------------------------------------- KStars
async def _ekos_checks(client: EkosClient) -> tuple[list[Check], bool]:
    if not await client.is_running():
        return [
            Check(
                "kstars",
                Verdict.PROBLEM,
                "KStars is not running on this bus",
                "Start KStars (or `ekos-occult sandbox start`), or give --bus.",
            )
        ], False
    checks = [Check("kstars", Verdict.OK, "KStars is on the bus")]
    ok = CommunicationStatus.SUCCESS
    if not await client.is_ekos_open():
        checks.append(
            Check(
                "ekos",
                Verdict.PROBLEM,
                "Ekos is not open",
                "Open Ekos and start your profile (or run with --start-ekos).",
            )
        )
        return checks, False
    ekos, indi = await client.ekos_status(), await client.indi_status()
    up = ekos == ok and indi == ok
    checks.append(
        Check(
            "ekos",
            Verdict.OK if up else Verdict.PROBLEM,
            f"Ekos {ekos.value}, INDI {indi.value}",
            "" if up else "Start the Ekos profile and connect its devices.",
        )
    )
    return checks, up


async def _device_checks(client: EkosClient) -> list[Check]:
    devices = await client.devices()
    loose = [d for d in devices if not await client.is_device_connected(d)]
    if not devices or loose:
        return [
            Check(
                "devices",
                Verdict.PROBLEM,
                f"not connected: {', '.join(loose) or 'no device at all'}",
                "Connect the devices in Ekos.",
            )
        ]
    return [Check("devices", Verdict.OK, f"connected: {', '.join(devices)}")]


async def _camera_checks(client: EkosClient, camera: str) -> list[Check]:
    camera = camera or await client.camera_name()
    if not camera:
        return [
            Check(
                "camera",
                Verdict.PROBLEM,
                "Ekos' Capture module has no camera",
                "Select the camera in Ekos' Capture tab or set [ekos] camera.",
            )
        ]
    props = {p.split(".")[1] for p in await client.device_properties(camera) if p.count(".") >= 2}
    missing = [p for p in RECORDING_PROPERTIES if p not in props]
    checks = [
        Check(
            "camera: stream recording",
            Verdict.PROBLEM if missing else Verdict.OK,
            f"{camera}: "
            + (
                f"missing {', '.join(missing)}"
                if missing
                else "has " + ", ".join(RECORDING_PROPERTIES)
            ),
            "This camera's INDI driver cannot record a video stream; use a driver with "
            "streaming (INDI::StreamManager)."
            if missing
            else "",
        )
    ]
    if "CCD_STREAM_RECORDER" in props:
        ser = await client.get_switch(camera, "CCD_STREAM_RECORDER", "SER")
        checks.append(
            Check(
                "camera: SER recorder",
                Verdict.OK if ser else Verdict.PROBLEM,
                f"{camera}: CCD_STREAM_RECORDER SER is {'on' if ser else 'off'}",
                ""
                if ser
                else "Select the SER recorder in the camera's INDI "
                "Streaming tab (CCD_STREAM_RECORDER).",
            )
        )
    else:
        checks.append(
            Check(
                "camera: SER recorder",
                Verdict.WARNING,
                f"{camera}: no CCD_STREAM_RECORDER property (older INDI: SER only)",
            )
        )
    if "CCD_STREAM_FRAME" not in props:
        checks.append(
            Check(
                "camera: ROI",
                Verdict.WARNING,
                f"{camera}: no CCD_STREAM_FRAME, recordings are full frame",
            )
        )
    return checks


async def check_rig(
    client: EkosClient, *, camera: str = "", site: Site | None = None
) -> list[Check]:
    """Every check that needs KStars, in order; stops early when KStars/Ekos is not up."""
    try:
        checks, up = await _ekos_checks(client)
        if not up:
            return checks
        checks += await _device_checks(client)
        checks += await _camera_checks(client, camera)
        checks.append(location_check(await client.location(), site))
    except EkosError as exc:
        checks = [Check("kstars", Verdict.PROBLEM, str(exc))]
    return checks


def to_json_ready(checks: Sequence[Check]) -> dict[str, Any]:
    """``{"ok": bool, "checks": [...]}`` for ``check --json``."""
    return {
        "ok": not any(c.verdict is Verdict.PROBLEM for c in checks),
        "checks": [{**asdict(c), "verdict": c.verdict.value} for c in checks],
    }


def _socket_of(address: str) -> str:
    m = re.search(r"unix:(?:path|abstract)=([^,;]+)", address)
    return m.group(1) if m else address


def default_kstarsrc(
    bus_address: str, sandbox_dirs: Sequence[Path], env: Mapping[str, str], home: Path
) -> Path:
    """The kstarsrc of the KStars on ``bus_address``.

    A sandbox's KStars (one of ``sandbox_dirs`` whose recorded bus is this one) keeps it in
    its private HOME; any other KStars in ``$XDG_CONFIG_HOME`` (default ``~/.config``).
    """
    from ekos_occult.kstars.sandbox import read_state

    for state_dir in sandbox_dirs:
        try:
            state = read_state(state_dir)
        except SandboxError:
            state = None  # an unreadable state file names no bus
        if state is not None and _socket_of(state.bus_address) == _socket_of(bus_address):
            return state.state_dir / "home" / ".config" / "kstarsrc"
    base = env.get("XDG_CONFIG_HOME") or str(home / ".config")
    return Path(base) / "kstarsrc"
