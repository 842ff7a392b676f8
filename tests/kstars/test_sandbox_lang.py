"""``sandbox start --lang``: which locale KStars gets, and the refusals that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ekos_occult.errors import SandboxError
from ekos_occult.kstars.procs import ProcessRecord
from ekos_occult.kstars.sandbox import SandboxState
from ekos_occult.kstars.sandbox_kstars import kstars_env, locale_for
from ekos_occult.kstars.sandbox_layout import Layout
from ekos_occult.model import Site

pytestmark = pytest.mark.timeout(10)

GERMAN_CATALOG = Path("/usr/share/locale/de/LC_MESSAGES/kstars.mo")


def test_german_maps_to_the_generated_utf8_locale() -> None:
    assert GERMAN_CATALOG.exists(), "Debian's kstars-data ships the German catalogue"
    assert locale_for("de", "C\nC.utf8\nPOSIX\nde_DE.utf8\n") == "de_DE.UTF-8"
    assert locale_for("de", "C\nde_AT.utf8\n") == "de_AT.UTF-8"


def test_missing_locale_or_translation_is_refused_with_the_fix() -> None:
    with pytest.raises(SandboxError, match="locale-gen"):
        locale_for("de", "C\nC.utf8\nPOSIX\n")
    with pytest.raises(SandboxError, match="kstars-data"):
        locale_for("xx", "C\n")
    with pytest.raises(SandboxError, match="language code"):
        locale_for("de; rm -rf /", "")


def test_kstars_runs_wholly_in_the_language(tmp_path: Path) -> None:
    rec = ProcessRecord("x", 1, 1)
    state = SandboxState(tmp_path, "unix:path=/x", ":5", Site(0, 0, 0), "S", rec, rec)
    layout = Layout(tmp_path, tmp_path / "home", tmp_path / "run", tmp_path / "logs")
    english = kstars_env(layout, {}, state)
    assert (english["LANG"], english["LC_ALL"]) == ("C.UTF-8", "C.UTF-8")
    assert "LANGUAGE" not in english
    german = kstars_env(layout, {}, SandboxState(**{**state.__dict__, "lang": "de"}))
    assert (german["LANGUAGE"], german["LANG"], german["LC_ALL"]) == (
        "de",
        "de_DE.UTF-8",
        "de_DE.UTF-8",
    )
