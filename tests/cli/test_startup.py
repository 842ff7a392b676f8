"""What a command loads before it does any work (issue 16: a Raspberry Pi pays seconds for each
heavy import). Each check runs in a fresh interpreter, as the ``ekos-occult`` script starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent.parent / "data"
HEAVY = ("numpy", "astropy", "astroplan", "matplotlib", "jinja2", "lxml", "asyncio", "dbus_next")


def loaded_after(argv: list[str]) -> set[str]:
    """The heavy top-level packages imported once ``ekos-occult ARGV`` has run."""
    code = (
        "import contextlib, io, json, sys\n"
        "from ekos_occult.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(json.loads(sys.argv[1]))\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1])) & set(HEAVY)


@pytest.mark.timeout(120)
def test_help_of_every_command_loads_nothing_heavy() -> None:
    from ekos_occult.cli import COMMANDS

    assert loaded_after(["--help"]) == set()
    for command in COMMANDS:
        assert loaded_after([command, "--help"]) == set(), command


@pytest.mark.timeout(60)
def test_plan_of_a_csv_loads_no_astropy_asyncio_or_dbus() -> None:
    argv = ["plan", str(DATA / "classic.csv"), "--site", "48.1,11.6,520"]
    loaded = loaded_after([*argv, "--now", "2023-02-08T12:00:00"])
    assert loaded == {"numpy"}  # ERFA's altitudes need numpy, and nothing else heavy
