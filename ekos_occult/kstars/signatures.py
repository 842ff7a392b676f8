"""Method signatures of the KStars D-Bus interfaces, read from the vendored introspection XML.

The XML in ``ekos_occult/dbus_xml`` was captured from KStars 3.6.2. It is read with the standard
library (not dbus-next's parser, which rejects the ``bool`` type one unused KStars method
declares) into a table (interface, method, argument count) → D-Bus signature, so that
:mod:`ekos_occult.kstars.client` builds each call from the introspected types instead of guessing
them.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources

__all__ = ["Signatures", "load_signatures", "parse_introspection"]

_VALID_CODES = set("ybnqiuxtdsogavh(){}")

# Standard interfaces KStars answers but whose XML we do not vendor.
_BUILTIN: dict[tuple[str, str, int], str] = {
    ("org.freedesktop.DBus.Properties", "Get", 2): "ss",
    ("org.freedesktop.DBus.Properties", "Set", 3): "ssv",
    ("org.freedesktop.DBus.Properties", "GetAll", 1): "s",
    ("org.freedesktop.DBus.Introspectable", "Introspect", 0): "",
    ("org.freedesktop.DBus", "NameHasOwner", 1): "s",
    ("org.freedesktop.DBus", "GetNameOwner", 1): "s",
    ("org.freedesktop.DBus", "GetConnectionUnixProcessID", 1): "s",
    ("org.freedesktop.DBus", "AddMatch", 1): "s",
    ("org.freedesktop.DBus", "RemoveMatch", 1): "s",
    ("org.qtproject.Qt.QAction", "trigger", 0): "",
}

# Forms KStars 3.6.2 does not have, from the 3.7.3+/3.8 source (shared/reference/
# kstars-3.8-interfaces.md): chosen by feature probes, never assumed.
_NEWER: dict[tuple[str, str, int], str] = {
    ("org.kde.kstars.Ekos.Capture", "abort", 1): "s",  # train; "" = all cameras (3.7.3+)
    ("org.kde.kstars.Ekos.Capture", "start", 1): "s",
    ("org.kde.kstars.Ekos.Capture", "loadSequenceQueue", 4): "ssbs",
    ("org.kde.kstars.Ekos", "getProfile", 1): "s",  # 3.8
}


@dataclass(frozen=True)
class Signatures:
    """Input signatures by (interface, method, number of arguments)."""

    methods: dict[tuple[str, str, int], str] = field(default_factory=dict)

    def method(self, interface: str, member: str, nargs: int) -> str:
        """The input signature of ``interface.member`` called with ``nargs`` arguments.

        Raises:
            KeyError: the vendored XML has no such method (a programming error here).
        """
        key = (interface, member, nargs)
        if key not in self.methods:
            raise KeyError(
                f"{interface}.{member} with {nargs} argument(s) is not in the "
                "vendored KStars introspection XML"
            )
        return self.methods[key]


def _is_valid(sig: str) -> bool:
    return all(c in _VALID_CODES for c in sig)


def parse_introspection(xml_text: str) -> dict[tuple[str, str, int], str]:
    """The method input signatures in one introspection document.

    Methods whose types are not valid D-Bus signatures are left out.
    """
    table: dict[tuple[str, str, int], str] = {}
    root = ET.fromstring(xml_text)
    for iface in root.iter("interface"):
        for method in iface.iter("method"):
            types = [
                a.get("type", "") for a in method.iter("arg") if a.get("direction", "in") == "in"
            ]
            sig = "".join(types)
            if _is_valid(sig):
                table[(iface.get("name", ""), method.get("name", ""), len(types))] = sig
    return table


@functools.lru_cache(maxsize=1)
def load_signatures() -> Signatures:
    """Read every vendored XML file once."""
    table = {**_BUILTIN, **_NEWER}
    folder = resources.files("ekos_occult.kstars.dbus_xml")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".xml"):
            table.update(parse_introspection(entry.read_text(encoding="utf-8")))
    return Signatures(table)
