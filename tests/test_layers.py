"""The package's import graph: no cycle, and no import against the layer order.

Every ``import`` in ``ekos_occult`` counts: at module level, inside functions (lazy) and under
``if TYPE_CHECKING:``. The graph is built from the source with :mod:`ast` (nothing is imported).
The layer order is stated once, in :data:`LAYERS` below and in ``ekos_occult/__init__.py``;
each sub-package's docstring says the same in words (checked too).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "ekos_occult"
CORE = "core"  # the modules directly under ekos_occult/
CORE_PACKAGES = frozenset({"settings"})  # core split into modules: still core, one core unit

# What each layer may import (besides itself), low to high. Must match ekos_occult/__init__.py.
LAYERS: dict[str, frozenset[str]] = {
    CORE: frozenset(),
    "plan": frozenset({CORE}),
    "video": frozenset({CORE}),
    "reduce": frozenset({CORE, "video"}),
    "ekosfiles": frozenset({CORE, "plan"}),
    "report": frozenset({CORE, "plan", "reduce", "video"}),
    "kstars": frozenset({CORE, "plan", "ekosfiles"}),
    "night": frozenset({CORE, "plan", "ekosfiles", "kstars", "video"}),
    "views": frozenset({CORE, "plan", "ekosfiles", "night", "video", "reduce", "report"}),
    "app": frozenset(
        {CORE, "plan", "ekosfiles", "kstars", "night", "video", "reduce", "report", "views"}
    ),
    "cli": frozenset(
        {CORE, "plan", "ekosfiles", "kstars", "night", "video", "reduce", "report", "views", "app"}
    ),
}
ENTRY_POINT = "ekos_occult.__main__"  # `python -m ekos_occult` hands off to cli: not a layer


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[module].name == "__init__.py"
    base = module.split(".")[: None if is_package else -1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str) -> set[str]:
    """The ekos_occult modules ``module`` imports, wherever the import statement is."""
    return imports_in(ast.parse(MODULES[module].read_text(encoding="utf-8")), module)


def imports_in(tree: ast.Module, module: str) -> set[str]:
    """The ekos_occult modules a parsed ``module`` imports: every ``import`` node, at module
    level, in functions or under ``if TYPE_CHECKING:``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            names = [f"{target}.{a.name}" for a in node.names] + [target]
            names = [n for n in names if n in MODULES][:1] or [target]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import a.b.c` names module a.b.c
                name = name.rpartition(".")[0]
            if name.startswith("ekos_occult") and name != module:
                found.add(name)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (ROOT / parts[1]).is_dir() and parts[1] not in CORE_PACKAGES:
        return parts[1]
    return CORE


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*path[path.index(n) :], n]
            if n not in state and (cycle := visit(n)) is not None:
                return cycle
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)) is not None:
            return cycle
    return None


def test_every_package_has_a_layer() -> None:
    assert {layer(m) for m in MODULES} == set(LAYERS)


def test_no_import_cycle() -> None:
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    # A proof that test_no_import_cycle can fail.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_lazy_and_type_only_imports_are_edges() -> None:
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ekos_occult.kstars.client import EkosClient\n"
        "def f() -> None:\n"
        "    import ekos_occult.night.journal\n"
        "    from ekos_occult.plan import planner\n"
        "    from . import catalog\n"
    )
    found = imports_in(ast.parse(source), "ekos_occult.plan.visibility")
    assert found == {
        "ekos_occult.kstars.client",
        "ekos_occult.night.journal",
        "ekos_occult.plan.planner",
        "ekos_occult.plan.catalog",
    }


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != ENTRY_POINT))
def test_imports_follow_the_layer_order(module: str) -> None:
    own = layer(module)
    against = sorted(
        f"{target} ({layer(target)})"
        for target in GRAPH[module]
        if layer(target) != own and layer(target) not in LAYERS[own]
    )
    assert not against, f"{module} ({own}) may not import {', '.join(against)}"


def stated_layers(doc: str) -> dict[str, set[str]]:
    """``{layer: what it may import}`` from the ``- ``name`` ... may import: a, b.`` items."""
    items = [" ".join(item.split()) for item in doc.split("\n- ")[1:]]
    stated: dict[str, set[str]] = {}
    for item in items:
        name = item.split("``")[1]
        allowed = item.split("may import:", 1)[1].split(".")[0]
        stated[name] = {w.strip(" ,") for w in allowed.split(",")} - {"nothing of ekos_occult"}
    return stated


def test_the_order_is_stated_once_in_the_package_docstring() -> None:
    doc = importlib.import_module("ekos_occult").__doc__ or ""
    assert stated_layers(doc) == {name: set(allowed) for name, allowed in LAYERS.items()}


@pytest.mark.parametrize("package", sorted(set(LAYERS) - {CORE}))
def test_every_sub_package_says_its_job_and_what_it_may_import(package: str) -> None:
    doc = importlib.import_module(f"ekos_occult.{package}").__doc__ or ""
    assert doc.strip(), f"ekos_occult/{package}/__init__.py has no docstring"
    assert "may import" in doc.lower(), f"ekos_occult/{package}: say what it may import"
    for other in sorted(set(LAYERS) - LAYERS[package] - {package, CORE}):
        assert f"``{other}``" not in doc.split("ever", 1)[0].split("May import", 1)[-1], (
            f"ekos_occult/{package}'s docstring allows ``{other}``, the layer order does not"
        )


def test_no_more_than_a_dozen_core_modules() -> None:
    # A core package (CORE_PACKAGES) counts once: it is one job split into modules.
    core = {".".join(m.split(".")[:2]) for m in MODULES if layer(m) == CORE}
    assert len(core) <= 12, sorted(core)


def test_a_core_package_is_core() -> None:
    # Its modules obey the core rule (import only core), and only the listed ones are core.
    assert all((ROOT / name / "__init__.py").is_file() for name in CORE_PACKAGES)
    assert layer("ekos_occult.settings.load") == CORE
    assert layer("ekos_occult.plan.planner") == "plan"
