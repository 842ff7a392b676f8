"""The sandbox's own INDI server: a free port, and an ``indiserver`` (and ``pkill``) on KStars'
PATH that touch only this sandbox's server, never another sandbox's or a rig's."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

from ekos_occult.files import write_atomic
from ekos_occult.kstars.sandbox_layout import Layout

__all__ = [
    "free_port",
    "with_private_indi",
    "private_indi",
]


def free_port() -> int:
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
    (see :func:`private_indi`); the local socket stays INDI's own, so one sandbox at a time.
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


def private_indi(layout: Layout, indiserver: str) -> None:
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
    write_atomic(kstarsrc, with_private_indi(text, free_port(), str(wrapper)))
