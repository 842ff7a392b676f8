"""The night folder's file names are written in one place: ekosfiles/nightfolder.py."""

from __future__ import annotations

import ast
from pathlib import Path

from ekos_occult.ekosfiles import nightfolder

ROOT = Path(nightfolder.__file__).resolve().parent.parent
# JOBS ("jobs") is left out: the word is also a JSON key and a template variable.
NAMES = {
    nightfolder.EVENTS_COPY,
    nightfolder.JOURNAL,
    nightfolder.RECORDINGS,
    nightfolder.SEQUENCES,
    nightfolder.CAPTURES,
}


def test_no_other_module_spells_a_night_folder_name() -> None:
    spelled = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "nightfolder.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in NAMES:
                spelled.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not spelled, "use ekos_occult.ekosfiles.nightfolder's names:\n" + "\n".join(spelled)
