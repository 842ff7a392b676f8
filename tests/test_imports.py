"""Every module imports alone in a fresh interpreter with warnings as errors (nothing runs on
import), and the planning core stays free of the D-Bus and template stacks."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import ekos_occult

# __main__ runs the command line on import, by design.
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(ekos_occult.__path__, prefix="ekos_occult.")
    if m.name != "ekos_occult.__main__"
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_module_list_is_not_empty() -> None:
    for name in (
        "ekos_occult.plan.catalog",
        "ekos_occult.plan.visibility",
        "ekos_occult.plan.planner",
        "ekos_occult.views.planview",
        "ekos_occult.views.altitudeplot",
        "ekos_occult.cli.plan",
    ):
        assert name in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_imports_alone_without_warnings(module: str) -> None:
    result = run_python(f"import {module}")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("ekos_occult.plan.planner", ("dbus_next", "jinja2", "matplotlib")),
        ("ekos_occult.plan.catalog", ("dbus_next", "jinja2", "matplotlib", "astroplan")),
        ("ekos_occult.views.planview", ("dbus_next", "jinja2", "matplotlib")),
        # Commands import their heavy libraries inside run(): --help stays fast.
        ("ekos_occult.cli.plan", ("astropy", "astroplan", "matplotlib", "rich")),
    ],
)
def test_import_does_not_load(module: str, forbidden: tuple[str, ...]) -> None:
    code = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {forbidden!r} if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
