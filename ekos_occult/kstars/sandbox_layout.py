"""What a sandbox consists of and where it keeps things: its state record, its private HOME
with the config files KStars reads at start (kstarsrc, kwalletrc, kdeglobals), the sky's
``gsc`` on the drivers' PATH, and the clean-up of its runtime directory.

Used by :mod:`ekos_occult.kstars.sandbox` (start/stop/status) and the other ``sandbox_*`` steps.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ekos_occult.files import write_atomic
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sky import SkyFiles
from ekos_occult.model import Site

__all__ = [
    "SandboxState",
    "Layout",
    "KSTARSRC",
    "KWALLETRC",
    "KDEGLOBALS",
    "prepare_dirs",
    "set_sky",
    "log_tail",
    "remove_runtime",
]


# Written before KStars first starts (KStars reads it once at start; readConfig at run time
# resets its clock). Scheduler: keep Ekos and INDI up after the last job, never skip a job
# because frames of the same name exist, and log each job's evaluation ("Job 'X' at row #1 was
# saved.", "Job 'X' is scheduled to start at 22/11 00:25, ...") to kstars.log, which is the only
# place KStars 3.6 shows the jobs it holds. GUI: no first-run wizard on the headless display.
# Ekos: its window's size, so the Scheduler's table fits a screenshot (resizing the shown window
# from outside, xdotool windowsize, made Qt hide it: OBSERVED).
KSTARSRC = """\
[GUI]
RunStartupWizard=false

[General]
KStarsFirstRun=false

[TipOfDay]
RunOnStart=false

[Ekos]
EkosWindowWidth=1500
EkosWindowHeight=950
independentWindowEkos=true

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

# KDE's icon theme for KStars' buttons and tabs (Debian package breeze-icon-theme; without a
# theme named here the Qt platform theme of a bare X display finds none and buttons are blank).
KDEGLOBALS = """\
[Icons]
Theme=breeze
"""


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
    vnc: ProcessRecord | None = None  # x11vnc on the display (``start --vnc``)
    vnc_port: int | None = None  # its port on 127.0.0.1

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
    """Create the private HOME (with kstarsrc, kwalletrc and kdeglobals), runtime and log
    directories."""
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
    write_atomic(layout.home / ".config" / "kdeglobals", KDEGLOBALS)
    return layout


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
