"""KStars' own process in the sandbox: its environment (private HOME/XDG dirs, display, bus,
UTC, language) and its start."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from ekos_occult.errors import SandboxError
from ekos_occult.kstars import procs as _procs
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sandbox_indi import private_indi
from ekos_occult.kstars.sandbox_layout import Layout, SandboxState

__all__ = [
    "locale_for",
    "kstars_env",
    "start_kstars",
]


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
    private_indi(layout, binaries["indiserver"])
    return _procs.spawn([binaries["kstars"]], kstars_env(layout, env, state), layout.kstars_log)
