"""Send one INDI property to an INDI server over its TCP port (the INDI XML wire protocol).

Why: KStars 3.6.2's ``org.kde.kstars.INDI.sendProperty`` sends through the device's driver-info
client manager, which KStars sometimes leaves null (``indidbus.cpp``: no check); the call then
crashes KStars (SIGSEGV in libindiclient, OBSERVED after scheduler jobs). Ekos' own INDI server
accepts the same ``new*Vector`` message from a second client, so :mod:`ekos_occult.kstars.client`
sends
through here when it knows the server's port, and reads property values and states from KStars.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ekos_occult.errors import EkosCommandFailed, EkosTimeout

__all__ = [
    "IndiServer",
    "new_vector_xml",
    "send_xml",
    "server_port_from_log",
    "server_from_profile",
    "server_from_userdb",
    "port_from_cmdline",
    "is_local_host",
    "switch_labels",
    "labels_from_def",
]

_KINDS = {"number": "Number", "text": "Text", "switch": "Switch"}
_PORT = re.compile(r"INDI services started on port ([\d,.\u00a0 ]+)")


@dataclass(frozen=True)
class IndiServer:
    """Where Ekos' INDI server listens, and how that was found.

    Attributes:
        host: ``127.0.0.1`` for Ekos' local server, else the remote host (Ekos remote mode,
            INDI Web Manager): the recordings are then written on that host's disk.
        port: its TCP port.
        how: the source, for the user ("KStars' indiserver child process -p 7624", ...).
    """

    host: str
    port: int
    how: str

    @property
    def is_local(self) -> bool:
        """Whether the INDI drivers (and the files they write) are on this machine."""
        return is_local_host(self.host)

    def describe(self) -> str:
        where = "on this machine" if self.is_local else "on another host: recordings stay there"
        return f"INDI server {self.host}:{self.port} {where} (found from {self.how})"


def is_local_host(host: str) -> bool:
    """``localhost``, ``127.0.0.1``, ``::1`` or this machine's own name."""
    names = {"localhost", "127.0.0.1", "::1", "", socket.gethostname().lower()}
    return host.strip().lower() in names


def server_from_profile(text: str, how: str = "Ekos.getProfile") -> IndiServer | None:
    """The INDI server of an Ekos profile's JSON (KStars 3.8 ``Ekos.getProfile``).

    Only remote mode names the server (``remote_host``/``remote_port``); a local profile's port
    is chosen by Ekos at start (None here: ask KStars' child process instead). The JSON field
    names follow the reference (unverified on a live 3.8: unknown shapes give None).
    """
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or str(data.get("mode", "")).lower() != "remote":
        return None
    host = str(data.get("remote_host") or data.get("host") or "")
    try:
        port = int(data.get("remote_port") or data.get("port") or 0)
    except (TypeError, ValueError):
        return None
    if not host or port <= 0:
        return None
    return IndiServer("127.0.0.1" if is_local_host(host) else host, port, how)


def server_from_userdb(path: Path, profile: str) -> IndiServer | None:
    """The INDI server of an Ekos profile in remote mode, from KStars' user database
    (``userdb.sqlite``, table ``profile``: ``host`` and ``port`` are set for remote mode, NULL
    for local mode; the schema as KStars 3.6.2 writes it). Any KStars version, no D-Bus call.

    Returns:
        The server; None for a local profile, an unknown profile or an unreadable database.
    """
    import sqlite3

    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
        try:
            row = db.execute(
                "SELECT host, port FROM profile WHERE name = ? ORDER BY id LIMIT 1", (profile,)
            ).fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    if row is None or not row[0] or not str(row[0]).strip():
        return None
    host = str(row[0]).strip()
    try:
        port = int(row[1]) if row[1] else 7624
    except (TypeError, ValueError):
        return None
    how = f"KStars' user database {path}, profile {profile!r} (remote mode)"
    return IndiServer("127.0.0.1" if is_local_host(host) else host, port, how)


def port_from_cmdline(argv: Sequence[str]) -> int | None:
    """The ``-p PORT`` of an indiserver command line (KStars starts it as ``indiserver -v -p N``);
    7624, INDI's default, when the line is an indiserver's without ``-p``; None otherwise."""
    if not argv or "indi" not in argv[0].rsplit("/", 1)[-1]:
        return None
    for i, arg in enumerate(argv[:-1]):
        if arg == "-p" and argv[i + 1].isdigit():
            return int(argv[i + 1])
    return 7624 if argv[0].rsplit("/", 1)[-1].startswith(("indiserver", "indi-srv")) else None


def new_vector_xml(device: str, prop: str, kind: str, values: Sequence[tuple[str, str]]) -> bytes:
    """The ``new<Kind>Vector`` message that sets ``values`` (element name, value text)."""
    tag = _KINDS[kind]
    root = etree.Element(f"new{tag}Vector", device=device, name=prop)
    for name, value in values:
        etree.SubElement(root, f"one{tag}", name=name).text = value
    return bytes(etree.tostring(root)) + b"\n"


def server_port_from_log(lines: Sequence[str]) -> int | None:
    """The port of Ekos' local INDI server from Ekos' log (newest line first), if logged."""
    for line in lines:
        match = _PORT.search(line)
        if match:
            digits = re.sub(r"\D", "", match.group(1))
            return int(digits) if digits else None
    return None


async def send_xml(host: str, port: int, message: bytes, timeout_s: float) -> None:
    """Connect, send ``message``, close.

    Raises:
        EkosCommandFailed: the server cannot be reached.
        EkosTimeout: it did not accept the message within ``timeout_s``.
    """
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
        writer.write(message)
        await asyncio.wait_for(writer.drain(), timeout_s)
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), timeout_s)
    except asyncio.TimeoutError as exc:
        raise EkosTimeout(f"The INDI server {host}:{port} did not answer in time.") from exc
    except OSError as exc:
        raise EkosCommandFailed(f"Cannot send to the INDI server {host}:{port}: {exc}.") from exc


def labels_from_def(xml_text: str, prop: str) -> list[tuple[str, str, bool]]:
    """``(element name, label, on)`` of the switch ``prop`` in an INDI server's ``defSwitchVector``
    answer (KStars' D-Bus shows element names only, e.g. ``INDI_MONO`` for the label "Mono")."""
    found: list[tuple[str, str, bool]] = []
    for m in re.finditer(r"<defSwitchVector\b.*?</defSwitchVector>", xml_text, re.S):
        try:
            root = etree.fromstring(m.group(0).encode("utf-8"))
        except etree.XMLSyntaxError:
            continue
        if root.get("name") != prop:
            continue
        for el in root.iter("defSwitch"):
            name = el.get("name", "")
            found.append((name, el.get("label") or name, (el.text or "").strip() == "On"))
    return found


async def switch_labels(
    host: str, port: int, device: str, prop: str, timeout_s: float
) -> list[tuple[str, str, bool]]:
    """Ask the INDI server for one switch property's definition: its elements' labels.

    Returns:
        ``(element name, label, on)`` per element; empty when the server did not define it
        within ``timeout_s``.
    """
    ask = etree.Element("getProperties", version="1.7", device=device, name=prop)
    data = b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, asyncio.TimeoutError):
        return []
    try:
        writer.write(bytes(etree.tostring(ask)) + b"\n")
        await asyncio.wait_for(writer.drain(), timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while b"</defSwitchVector>" not in data and loop.time() < deadline:
            chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - loop.time()))
            if not chunk:
                break
            data += chunk
    except (OSError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()
    return labels_from_def(data.decode("utf-8", "replace"), prop)
