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
import re
from collections.abc import Sequence

from lxml import etree

from ekos_occult.errors import EkosCommandFailed, EkosTimeout

__all__ = ["new_vector_xml", "send_xml", "server_port_from_log"]

_KINDS = {"number": "Number", "text": "Text", "switch": "Switch"}
_PORT = re.compile(r"INDI services started on port ([\d,.\u00a0 ]+)")


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
