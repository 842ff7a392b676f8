"""KStars' own settings file (kstarsrc): the settings that would end or spoil a night.

:func:`read_kstarsrc` reads it as KDE does; :func:`kstars_settings_checks` judges the scheduler
and time/location-source keys (which exist depends on the KStars version) as
:class:`~ekos_occult.kstars.readiness.verdicts.Check` records, each with the exact change to
make; :func:`default_kstarsrc` finds the file of the KStars on a bus (a sandbox's private HOME,
or ``$XDG_CONFIG_HOME``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ekos_occult.errors import SandboxError
from ekos_occult.kstars.readiness.verdicts import Check, Verdict

__all__ = ["read_kstarsrc", "kstars_settings_checks", "default_kstarsrc"]


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
