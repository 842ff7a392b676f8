"""The steps of ``sandbox start``: private directories and config, Xvfb, the bus, KStars, Ekos.

Kept apart from :mod:`ekos_occult.kstars.sandbox` (the public start/stop/status) so each stays
small.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import select
import shlex
import socket
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.errors import SandboxError
from ekos_occult.files import write_atomic
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sky import SkyFiles
from ekos_occult.model import Site

__all__ = [
    "SandboxState",
    "Layout",
    "KSTARSRC",
    "prepare_dirs",
    "start_display_and_bus",
    "start_kstars",
    "locale_for",
    "bring_up_ekos",
    "log_tail",
    "remove_runtime",
]

# Written before KStars first starts (KStars reads it once at start; readConfig at run time
# resets its clock). Scheduler: keep Ekos and INDI up after the last job, never skip a job
# because frames of the same name exist, and log each job's evaluation ("Job 'X' at row #1 was
# saved.", "Job 'X' is scheduled to start at 22/11 00:25, ...") to kstars.log, which is the only
# place KStars 3.6 shows the jobs it holds. GUI: no first-run wizard on the headless display.
KSTARSRC = """\
[GUI]
RunStartupWizard=false

[General]
KStarsFirstRun=false

[TipOfDay]
RunOnStart=false

[Scheduler]
StopEkosAfterShutdown=false
RememberJobProgress=false
SchedulerLogging=true
"""

# No KWallet "create a new wallet" dialog on the headless display.
KWALLETRC = """\
[Wallet]
Enabled=false
First Use=false
"""

# Address of a unix socket must fit in sockaddr_un.sun_path (108 bytes incl. NUL).
_MAX_SOCKET_PATH = 100
_WIZARD_PROFILE = "Simulators (sandbox copy)"


@dataclass(frozen=True)
class SandboxState:
    """What a running sandbox consists of (the content of ``sandbox.json``)."""

    state_dir: Path
    bus_address: str
    display: str
    site: Site
    profile: str
    xvfb: ProcessRecord
    dbus: ProcessRecord
    kstars: ProcessRecord | None = None
    children: tuple[ProcessRecord, ...] = ()
    devices: tuple[str, ...] = ()
    tz_hours: float = 0.0  # the UTC offset KStars uses at the site (its "local time")
    lang: str = ""  # KStars' interface language ("de"); empty: untranslated (C.UTF-8)
    sky: bool = False  # real stars (our gsc on the drivers' PATH) rather than noise

    @property
    def sky_files(self) -> SkyFiles:
        """Where the simulated occultations are kept."""
        return SkyFiles(self.state_dir / "sky")

    @property
    def roots(self) -> tuple[ProcessRecord, ...]:
        """The processes the sandbox started itself."""
        return tuple(r for r in (self.kstars, self.dbus, self.xvfb) if r is not None)

    def is_running(self) -> bool:
        """Whether the bus and KStars processes are still alive."""
        return self.kstars is not None and all(_procs.is_alive(r) for r in self.roots)

    def shell_env(self) -> dict[str, str]:
        """Variables for a shell that should talk to this sandbox."""
        return {"DBUS_SESSION_BUS_ADDRESS": self.bus_address, "DISPLAY": self.display}


@dataclass(frozen=True)
class Layout:
    """Where the sandbox keeps things under its state directory."""

    state_dir: Path
    home: Path
    runtime: Path
    logs: Path

    @property
    def kstars_log(self) -> Path:
        """KStars' stdout and stderr."""
        return self.logs / "kstars.log"

    @property
    def userdb(self) -> Path:
        """KStars' user database (profiles live there)."""
        return self.home / ".local" / "share" / "kstars" / "userdb.sqlite"


def prepare_dirs(state_dir: Path) -> Layout:
    """Create the private HOME (with kstarsrc and kwalletrc), runtime and log directories."""
    state_dir = state_dir.absolute()
    layout = Layout(state_dir, state_dir / "home", state_dir / "run", state_dir / "logs")
    for d in (
        layout.home / ".config",
        layout.home / ".local" / "share",
        layout.home / ".cache",
        layout.logs,
    ):
        d.mkdir(parents=True, exist_ok=True)
    layout.runtime.mkdir(mode=0o700, exist_ok=True)
    os.chmod(layout.runtime, 0o700)
    kstarsrc = layout.home / ".config" / "kstarsrc"
    if not kstarsrc.exists():
        write_atomic(kstarsrc, KSTARSRC)
    write_atomic(layout.home / ".config" / "kwalletrc", KWALLETRC)
    return layout


def _free_port() -> int:
    """A TCP port free on this machine now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_private_indi(kstarsrc: str, port: int, indiserver: str) -> str:
    """kstarsrc text whose ``[indi]`` group gives the sandbox an INDI server of its own.

    Every KStars otherwise starts ``indiserver`` on port 7624 and INDI's fixed local socket
    ``/tmp/indiserver``: a second sandbox's server cannot bind ("Local server: bind: Address
    already in use"), exits, and its KStars talks to the first sandbox's drivers (OBSERVED with
    KStars 3.6.2 / INDI 1.9.9). So: a free port, and ``indiServer`` = the sandbox's wrapper
    (see :func:`_private_indi`); the local socket stays INDI's own, so one sandbox at a time.
    """
    values = {
        "serverPortStart": str(port),
        "serverPortEnd": str(port + 9),
        "indiServer": indiserver,
    }
    out: list[str] = []
    section = ""
    for line in kstarsrc.splitlines():
        if line.startswith("["):
            section = line.strip()
        if section == "[indi]" and line.split("=", 1)[0] in values:
            continue
        out.append(line)
        if line.strip() == "[indi]":
            out += [f"{k}={v}" for k, v in values.items()]
    if "[indi]" not in (ln.strip() for ln in out):
        out += ["", "[indi]", *(f"{k}={v}" for k, v in values.items())]
    return "\n".join(out) + "\n"


def _wrapper_script(alias: Path) -> str:
    """The ``indiserver`` KStars runs: the real one under this sandbox's own name."""
    return f'#!/bin/sh\nexec {shlex.quote(str(alias))} "$@"\n'


def _pkill_script(alias: Path) -> str:
    """KStars' ``pkill indiserver``, narrowed to this sandbox's own servers."""
    pattern = shlex.quote(f"^{alias}( |$)")
    return (
        "#!/bin/sh\n"
        'for arg in "$@"; do\n'
        '  if [ "$arg" = indiserver ]; then exec /usr/bin/pkill -f ' + pattern + "; fi\n"
        "done\n"
        'exec /usr/bin/pkill "$@"\n'
    )


def _private_indi(layout: Layout, indiserver: str) -> None:
    """Write the indiserver wrapper and point KStars' kstarsrc at it (see above).

    KStars 3.6.2 starting Ekos, when it sees any process called ``indiserver``, asks whether to
    shut it down and, the question answering itself on a headless display, runs
    ``pkill indiserver``: that would kill every INDI server on the machine (another sandbox's,
    or a rig's real one). So the sandbox's server runs under its own name (``indi-srv``, a
    symlink in the sandbox), and the ``pkill`` KStars finds first on its PATH ends only the
    servers started from that symlink: KStars can still replace its own previous server (Ekos
    ``stop`` leaves it running, OBSERVED) when Ekos starts again.

    The server keeps INDI's default local socket: KStars 3.6.2's client connects through it.
    A private ``-u`` socket made the client's first connection fail and retry, which left the
    devices' driver info without a client manager; ``org.kde.kstars.INDI.sendProperty`` then
    crashed KStars (SIGSEGV in ``AbstractBaseClient::sendNewText``/``Number``, OBSERVED after
    a scheduler job). The price: one sandbox per machine at a time (INDI 1.9.9's local socket
    is fixed); ``sandbox start`` says so when another INDI server holds it.
    """
    bindir = layout.home / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    alias = bindir / "indi-srv"
    alias.unlink(missing_ok=True)
    alias.symlink_to(indiserver)
    write_atomic(bindir / "pkill", _pkill_script(alias))
    (bindir / "pkill").chmod(0o755)
    wrapper = bindir / "indiserver"
    write_atomic(wrapper, _wrapper_script(alias))
    wrapper.chmod(0o755)
    kstarsrc = layout.home / ".config" / "kstarsrc"
    text = kstarsrc.read_text(encoding="utf-8")
    write_atomic(kstarsrc, with_private_indi(text, _free_port(), str(wrapper)))


def set_sky(layout: Layout, table: Path | None) -> None:
    """Put our ``gsc`` (real stars, see :mod:`ekos_occult.kstars.sky`) on the drivers' PATH.

    KStars runs ``indiserver`` with its own environment, so the drivers find ``gsc`` in the
    sandbox's ``bin`` (first on KStars' PATH). ``table`` None removes it: the CCD Simulator
    then draws noise. The occultation file starts empty (no star dimmed).
    """
    from ekos_occult.kstars import sky

    bindir = layout.home / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    files = sky.SkyFiles(layout.state_dir / "sky")
    if table is None:
        (bindir / "gsc").unlink(missing_ok=True)
        return
    sky.install_gsc(bindir, table, files)
    sky.write_occultations(files, [])


def _read_line(fd: int, timeout_s: float, what: str) -> str:
    """Read one line a child writes to the pipe ``fd`` (display number, bus address)."""
    data = b""
    deadline = time.monotonic() + timeout_s
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise SandboxError(f"{what} did not start within {timeout_s:g} s.")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise SandboxError(f"{what} exited at start; see its log.")
        data += chunk
    return data.decode().strip()


def _spawn_reporting(
    argv: list[str], env: Mapping[str, str], log: Path, what: str
) -> tuple[ProcessRecord, str]:
    """Spawn ``argv`` (whose ``{fd}`` placeholders get a pipe) and read the line it reports."""
    r, w = os.pipe()
    try:
        rec = _procs.spawn([a.replace("{fd}", str(w)) for a in argv], env, log, keep_fds=[w])
        os.close(w)
        w = -1
        try:
            return rec, _read_line(r, 15.0, what)
        except SandboxError:
            _procs.terminate([rec], 2.0)
            raise
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _bus_listen_address(layout: Layout) -> str:
    sock = layout.runtime / "bus"
    if len(str(sock)) <= _MAX_SOCKET_PATH:
        return f"unix:path={sock}"
    return f"unix:dir={tempfile.gettempdir()}"  # long state dir: the daemon names a socket


def _display_is_free(n: int) -> bool:
    # A lock file can be missing while a server still owns the socket (and vice versa).
    return not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()


def _start_xvfb(layout: Layout, xvfb: str, env: Mapping[str, str]) -> tuple[ProcessRecord, str]:
    """Start Xvfb on a display no other server uses; retry on a lost race."""
    first = 10 + secrets.randbelow(80)  # parallel sandboxes rarely pick the same first number
    for n in [*range(first, 100), *range(10, first)]:
        if not _display_is_free(n):
            continue
        try:
            rec, ready = _spawn_reporting(
                [
                    xvfb,
                    f":{n}",
                    "-displayfd",
                    "{fd}",
                    "-screen",
                    "0",
                    "1600x1000x24",
                    "-nolisten",
                    "tcp",
                ],
                env,
                layout.logs / "xvfb.log",
                "Xvfb",
            )
        except SandboxError:
            continue  # another server took the display first
        if ready == str(n) and _procs.is_alive(rec):
            return rec, str(n)
        _procs.terminate([rec], 2.0)
    raise SandboxError(
        f"Xvfb could not start on any display :10 to :99; see its log in {layout.logs}."
    )


def start_display_and_bus(
    layout: Layout, binaries: Mapping[str, str], site: Site, profile: str
) -> SandboxState:
    """Start Xvfb on a free display and the private session bus.

    Raises:
        SandboxError: either did not report ready.
    """

    env = {"PATH": os.defpath}
    xvfb, display = _start_xvfb(layout, binaries["Xvfb"], env)
    try:
        dbus, address = _spawn_reporting(
            [
                binaries["dbus-daemon"],
                "--session",
                "--nofork",
                "--nopidfile",
                f"--address={_bus_listen_address(layout)}",
                "--print-address={fd}",
            ],
            env,
            layout.logs / "dbus.log",
            "dbus-daemon",
        )
    except SandboxError:
        _procs.terminate([xvfb], 2.0)
        raise
    return SandboxState(layout.state_dir, address, f":{display}", site, profile, xvfb, dbus)


def locale_for(lang: str, available: str | None = None) -> str:
    """The installed UTF-8 locale for the language ``lang`` (``"de"`` → ``"de_DE.UTF-8"``).

    KStars takes its interface language from ``LANGUAGE``/``LC_ALL`` (KI18n, gettext); the
    translations come with Debian's kstars-data (``/usr/share/locale/<lang>/LC_MESSAGES``).

    Args:
        lang: a language code (``de``, ``fr``, ``pt_BR``).
        available: the output of ``locale -a`` (default: run it).

    Raises:
        SandboxError: no KStars translation or no generated locale for ``lang``.
    """
    if not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", lang):
        raise SandboxError(f"--lang {lang!r}: expected a language code such as de, fr or pt_BR.")
    catalog = Path("/usr/share/locale") / lang / "LC_MESSAGES" / "kstars.mo"
    if not catalog.exists():
        raise SandboxError(
            f"--lang {lang}: KStars has no translation here ({catalog} is missing; it comes "
            "with the kstars-data package)."
        )
    if available is None:
        import subprocess

        available = subprocess.run(
            ["locale", "-a"], capture_output=True, text=True, check=False
        ).stdout
    base = lang if "_" in lang else f"{lang}_{lang.upper()}"
    names = {n.strip().lower().replace("-", ""): n.strip() for n in available.splitlines()}
    for name in (f"{base}.utf8", *sorted(n for n in names if n.startswith(f"{lang}_"))):
        if name in names and name.endswith(".utf8"):
            return names[name].split(".")[0] + ".UTF-8"
    raise SandboxError(
        f"--lang {lang}: no UTF-8 locale for it is generated (`locale -a`); run "
        f"scripts/setup.sh, or: sudo sed -i 's/^# {base}.UTF-8/{base}.UTF-8/' /etc/locale.gen "
        "&& sudo locale-gen"
    )


def kstars_env(layout: Layout, env: Mapping[str, str], state: SandboxState) -> dict[str, str]:
    """KStars' environment: private HOME/XDG dirs, the sandbox display and bus, UTC, language.

    Untranslated KStars runs in C.UTF-8 (C-locale numbers in what it writes); with
    ``state.lang`` it runs wholly in that language's locale, as a user's KStars would.
    """
    home = layout.home
    if state.lang:
        loc = locale_for(state.lang)
        language = {"LANGUAGE": state.lang, "LANG": loc, "LC_ALL": loc}
    else:
        language = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    return {
        "PATH": f"{home / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}",  # the no-op pkill
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(layout.runtime),
        "DISPLAY": state.display,
        "DBUS_SESSION_BUS_ADDRESS": state.bus_address,
        "TZ": "UTC",  # KStars local time = UTC, matching the UTC offset 0 given with the site
        **language,
        "QT_QPA_PLATFORM": "xcb",
        "NO_AT_BRIDGE": "1",  # no accessibility bus to activate
        "QT_ACCESSIBILITY": "0",
    }


def start_kstars(
    layout: Layout, binaries: Mapping[str, str], env: Mapping[str, str], state: SandboxState
) -> ProcessRecord:
    """Start KStars on the sandbox display and bus, with an INDI server of its own."""
    _private_indi(layout, binaries["indiserver"])
    return _procs.spawn([binaries["kstars"]], kstars_env(layout, env, state), layout.kstars_log)


def _copy_simulators_profile(db_path: Path, profile: str = "Simulators") -> bool:
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


async def _avoid_profile_wizard(layout: Layout, timeout_s: float, profile: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if layout.userdb.exists() and _copy_simulators_profile(layout.userdb, profile):
                return
        except sqlite3.Error:
            pass  # KStars is still creating the database
        await asyncio.sleep(0.25)


async def bring_up_ekos(
    layout: Layout, state: SandboxState, timeout_s: float, say: Callable[[str], None]
) -> tuple[list[str], float]:
    """Wait for KStars, open Ekos, start the profile, wait for the devices, set the location.

    Returns:
        The INDI device names (all connected), and the UTC offset KStars chose for the site.

    Raises:
        SandboxError: KStars died, or a step did not complete within ``timeout_s`` overall.
        EkosError: a D-Bus call failed.
    """
    from ekos_occult.kstars.client import EkosClient
    from ekos_occult.kstars.states import CommunicationStatus

    assert state.kstars is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with EkosClient(state.bus_address, timeout_s=15.0) as ekos:
        while not await ekos.is_running():
            _check_alive(state.kstars, loop.time() > deadline, "appear on the bus")
            await asyncio.sleep(0.25)
        # Touch KStars' user database only once KStars has finished creating it.
        while not await ekos.is_main_window_ready():
            _check_alive(state.kstars, loop.time() > deadline, "finish starting")
            await asyncio.sleep(0.25)
        await _avoid_profile_wizard(layout, 20.0, state.profile)
        await ekos.open_ekos_window(timeout_s=max(5.0, deadline - loop.time()))
        say("Ekos is open; starting the profile.")
        await ekos.set_profile(state.profile)
        await ekos.start_ekos()
        restarts = 0
        while True:
            devices = await ekos.devices()
            ready = (
                await ekos.indi_status() == CommunicationStatus.SUCCESS
                and len(devices) >= 3
                and all([await ekos.is_device_connected(d) for d in devices])
                and await ekos.settle_status() == CommunicationStatus.SUCCESS
            )
            if ready:
                break
            if await ekos.ekos_status() == CommunicationStatus.ERROR and restarts < 3:
                # Under load Ekos can fail to reach its own new indiserver: start it again.
                restarts += 1
                say(f"Ekos failed to start its devices; retrying ({restarts}/3).")
                await ekos.stop_ekos()
                await asyncio.sleep(1.0)
                await ekos.start_ekos()
            _check_alive(state.kstars, loop.time() > deadline, "connect the INDI devices")
            await asyncio.sleep(0.5)
        say(f"Devices connected: {', '.join(devices)}.")
        await ekos.set_gps_location(
            state.site.lat_deg, state.site.lon_deg, state.site.elevation_m, 0.0
        )
        loc = await ekos.location()
        site = state.site
        if abs(loc.lat_deg - site.lat_deg) > 1e-6 or abs(loc.lon_deg - site.lon_deg) > 1e-6:
            raise SandboxError(f"KStars kept location {loc} instead of the site {state.site}.")
    return devices, loc.tz_hours


def _check_alive(kstars: ProcessRecord, late: bool, what: str) -> None:
    if not _procs.is_alive(kstars):
        raise SandboxError(f"KStars (pid {kstars.pid}) exited before it could {what}.")
    if late:
        raise SandboxError(f"KStars did not {what} in time.")


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def remove_runtime(state_dir: Path, bus_address: str) -> None:
    """Remove the bus socket (also one the daemon created elsewhere) and the runtime dir."""
    m = re.search(r"unix:path=([^,]+)", bus_address)
    if m:
        Path(m.group(1)).unlink(missing_ok=True)
    runtime = state_dir / "run"
    if runtime.is_dir():
        for entry in sorted(runtime.rglob("*"), reverse=True):
            if entry.is_dir() and not entry.is_symlink():
                entry.rmdir()
            else:
                entry.unlink(missing_ok=True)
        runtime.rmdir()
