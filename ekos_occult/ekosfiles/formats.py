"""The Ekos file formats ekos-occult writes, and which one a KStars version reads.

KStars changed its scheduler list (``.esl``) and capture sequence (``.esq``) files in 3.7
(``docs/kstars-facts.md`` §2): 3.6.x and older read the 3.6 format (Debian/Ubuntu ship 3.6.2),
3.7 and newer (3.8, StellarMate) the 3.7 one. This module is the one place that says so:
:class:`KStarsFormat`, :func:`format_for_version` (a version string, e.g. from
``kstars --version``) and :func:`parse_format_setting` (``[ekos] kstars_version`` /
``--kstars-version``). Pure: no I/O.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = [
    "KStarsFormat",
    "FORMATS",
    "FORMAT_SETTINGS",
    "format_for_version",
    "parse_format_setting",
]


class KStarsFormat(str, Enum):
    """An Ekos file format, named by the first KStars version that reads it.

    A ``str`` enum: it compares equal to ``"3.6"``/``"3.7"`` and prints as that text.
    """

    V3_6 = "3.6"
    V3_7 = "3.7"

    def __str__(self) -> str:
        return self.value


FORMATS: tuple[KStarsFormat, ...] = tuple(KStarsFormat)
"""Every format, oldest first."""
FORMAT_SETTINGS = ("auto", *(f.value for f in FORMATS))
"""The values of ``[ekos] kstars_version`` / ``--kstars-version``: detect, or a format."""


def format_for_version(version: str) -> KStarsFormat:
    """The format a KStars version reads: 3.6.x and older → 3.6, 3.7 and newer → 3.7.

    Args:
        version: a KStars version (``"3.6.2"``, ``"3.7.5"``, ``"3.8.0"``) or a lower bound
            from a feature probe (``">=3.7.3"``); text without ``MAJOR.MINOR`` is taken for
            3.6, the format most rigs run.
    """
    m = re.search(r"(\d+)\.(\d+)", version)
    if m is None:
        return KStarsFormat.V3_6
    older = (int(m.group(1)), int(m.group(2))) < (3, 7)
    return KStarsFormat.V3_6 if older else KStarsFormat.V3_7


def parse_format_setting(setting: str) -> KStarsFormat | None:
    """``"3.6"``/``"3.7"`` → that format; ``"auto"`` → None (detect from the running KStars).

    Raises:
        ValueError: any other text.
    """
    if setting == "auto":
        return None
    try:
        return KStarsFormat(setting)
    except ValueError:
        raise ValueError(
            f"{setting!r} is not a KStars file format: expected one of "
            f"{', '.join(FORMAT_SETTINGS)}."
        ) from None
