"""Process plumbing for the sandbox: spawn detached daemons, find their offspring, end them by pid.

Linux only (reads ``/proc``). A process is identified by its pid *and* its start time (clock
ticks since boot, field 22 of ``/proc/PID/stat``), so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ProcessRecord",
    "spawn",
    "read_stat",
    "is_alive",
    "sandbox_members",
    "terminate",
    "environ_of",
    "children_cmdlines",
    "config_home_of",
    "data_home_of",
]


@dataclass(frozen=True)
class ProcessRecord:
    """One process the sandbox started or inherited (KStars' indiserver and drivers)."""

    name: str
    pid: int
    start_ticks: int


@dataclass(frozen=True)
class _Stat:
    pid: int
    ppid: int
    sid: int
    state: str
    start_ticks: int
    comm: str


def read_stat(pid: int) -> _Stat | None:
    """Parse ``/proc/PID/stat``; None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm is in parentheses and may itself contain spaces or parentheses.
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return _Stat(pid, int(fields[1]), int(fields[3]), fields[0], int(fields[19]), comm)


def is_alive(rec: ProcessRecord) -> bool:
    """Whether ``rec`` still runs (same pid and start time, not a zombie)."""
    st = read_stat(rec.pid)
    return st is not None and st.start_ticks == rec.start_ticks and st.state != "Z"


def spawn(
    argv: Sequence[str], env: Mapping[str, str], log_path: Path, *, keep_fds: Iterable[int] = ()
) -> ProcessRecord:
    """Start ``argv`` in a new session with stdin from /dev/null and output to ``log_path``.

    No :class:`subprocess.Popen` object is kept: the daemons outlive this process.

    Args:
        argv: absolute executable path first.
        env: the complete environment of the child.
        log_path: appended to.
        keep_fds: descriptors (made inheritable here) the child must receive.
    """
    for fd in keep_fds:
        os.set_inheritable(fd, True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions, setsid=True)
    st = read_stat(pid)
    return ProcessRecord(Path(argv[0]).name, pid, st.start_ticks if st else 0)


def _environ_has(pid: int, needle: bytes) -> bool:
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return needle in data.split(b"\0")


def environ_of(pid: int) -> dict[str, str] | None:
    """The environment a process started with; None when it cannot be read (gone, another
    user, another PID namespace)."""
    try:
        data = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    pairs = (item.split(b"=", 1) for item in data.split(b"\0") if b"=" in item)
    return {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in pairs}


def config_home_of(pid: int) -> Path | None:
    """A process's ``$XDG_CONFIG_HOME`` (default ``$HOME/.config``): where KStars keeps its
    kstarsrc. None when its environment cannot be read or names neither."""
    env = environ_of(pid)
    if env is None:
        return None
    if env.get("XDG_CONFIG_HOME"):
        return Path(env["XDG_CONFIG_HOME"])
    return Path(env["HOME"]) / ".config" if env.get("HOME") else None


def data_home_of(pid: int) -> Path | None:
    """A process's ``$XDG_DATA_HOME`` (default ``$HOME/.local/share``): where KStars keeps its
    user database. None when its environment cannot be read or names neither."""
    env = environ_of(pid)
    if env is None:
        return None
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"])
    return Path(env["HOME"]) / ".local" / "share" if env.get("HOME") else None


def children_cmdlines(pid: int) -> list[list[str]]:
    """The command lines of a process's live children (e.g. the indiserver KStars started)."""
    found = []
    for st in _all_stats():
        if st.ppid != pid or st.state == "Z":
            continue
        try:
            raw = Path(f"/proc/{st.pid}/cmdline").read_bytes()
        except OSError:
            continue
        found.append([a.decode("utf-8", "replace") for a in raw.split(b"\0") if a])
    return found


def _all_stats() -> list[_Stat]:
    stats = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = read_stat(int(entry))
            if st is not None:
                stats.append(st)
    return stats


def sandbox_members(roots: Sequence[ProcessRecord], bus_address: str) -> list[ProcessRecord]:
    """Every live process attributable to the sandbox, roots excluded.

    A process belongs to the sandbox when it descends from a root, sits in a root's session
    (orphans keep their session when re-parented to init), or carries the sandbox's private
    bus address in its environment.
    """
    stats = [s for s in _all_stats() if s.state != "Z"]
    root_pids = {r.pid for r in roots if is_alive(r)}
    needle = f"DBUS_SESSION_BUS_ADDRESS={bus_address}".encode()
    own = {os.getpid()}
    members: dict[int, _Stat] = {}
    changed = True
    while changed:
        changed = False
        for s in stats:
            if s.pid in members or s.pid in root_pids or s.pid in own:
                continue
            if s.ppid in root_pids or s.ppid in members or s.sid in root_pids:
                members[s.pid] = s
                changed = True
    # Daemonised helpers (re-parented to init, new session) are recognised by the private bus
    # address in their environment. Only orphans started after the sandbox qualify: a user's
    # shell that exported the address after `sandbox start --print-env` is never touched.
    born = min((r.start_ticks for r in roots if r.pid in root_pids), default=0)
    for s in stats:
        if s.pid in members or s.pid in root_pids or s.pid in own:
            continue
        if s.ppid == 1 and s.start_ticks >= born and _environ_has(s.pid, needle):
            members[s.pid] = s
    return [ProcessRecord(s.comm, s.pid, s.start_ticks) for s in members.values()]


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def terminate(records: Sequence[ProcessRecord], grace_s: float) -> list[ProcessRecord]:
    """SIGTERM ``records``, wait up to ``grace_s``, SIGKILL the rest, wait again.

    Returns:
        The records still alive at the end (normally none).
    """
    live = [r for r in records if is_alive(r)]
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        for r in live:
            try:
                os.kill(r.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait_s
        while live and time.monotonic() < deadline:
            for r in live:
                _reap(r.pid)
            live = [r for r in live if is_alive(r)]
            if live:
                time.sleep(0.05)
        if not live:
            break
    for r in records:
        _reap(r.pid)
    return live
