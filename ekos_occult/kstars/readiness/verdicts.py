"""The readiness vocabulary: one :class:`Check` per thing checked, and what to do with them.

Every readiness check (KStars and Ekos over D-Bus, the camera, kstarsrc, site, clock, disk,
KStars' log) returns :class:`Check` records. ``check`` prints them (or ``--json``, through
:func:`to_json_ready`); ``load`` and ``run`` stop on them with :func:`require_ready`, which raises
the failing checks' own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from ekos_occult.errors import EkosUnavailable, OccultError

__all__ = ["Verdict", "Check", "failing", "require_ready", "night_ending", "to_json_ready"]


class Verdict(str, Enum):
    """How a check came out; only ``problem`` makes ``check`` fail (and ``load``/``run`` stop)."""

    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One verdict: what was checked, what was found, and what to do about it.

    Attributes:
        name: what was checked (``"kstars"``, ``"ekos"``, ``"devices"``, ``"camera"``,
            ``"kstars: version"``, ``"clock"``, ...); stable, ``check --json`` keys on it.
        verdict: how it came out.
        detail: what was found, one clause without a final full stop.
        fix: what to do, a sentence (empty when nothing is to be done).
        night_ending: a KStars setting that would end the night after the first event.
    """

    name: str
    verdict: Verdict
    detail: str
    fix: str = ""
    night_ending: bool = False

    @property
    def message(self) -> str:
        """``detail`` and ``fix`` as one text, as an error or a note says it."""
        return f"{self.detail}. {self.fix}" if self.fix else self.detail


def failing(checks: Sequence[Check]) -> list[Check]:
    """The checks whose verdict is a problem."""
    return [c for c in checks if c.verdict is Verdict.PROBLEM]


def require_ready(checks: Sequence[Check], error: type[OccultError] = EkosUnavailable) -> None:
    """Raise ``error`` with the failing checks' messages (one per line); nothing when none fails.

    Raises:
        OccultError: the type given (``EkosUnavailable`` by default; ``ConfigError`` for a
            problem the configuration must fix).
    """
    bad = failing(checks)
    if bad:
        raise error("\n".join(c.message for c in bad))


def night_ending(checks: Sequence[Check]) -> list[Check]:
    """The checks whose setting would end the night after the first event."""
    return [c for c in checks if c.night_ending]


def to_json_ready(checks: Sequence[Check]) -> dict[str, Any]:
    """``{"ok": bool, "checks": [{name, verdict, detail, fix, night_ending}, ...]}`` for
    ``check --json`` (``ok``: no check is a problem)."""
    return {
        "ok": not failing(checks),
        "checks": [{**asdict(c), "verdict": c.verdict.value} for c in checks],
    }
