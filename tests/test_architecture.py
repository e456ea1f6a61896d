"""The layout the design card fixes: wings, one-way imports, no cycles, small modules.

Read from the source with :mod:`ast` (imports inside functions count too), so a change that
breaks the layout fails here, not in a reviewer's head.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("facilities", "imagery", "pipeline")
FLOOR = {"facilities": 0, "imagery": 1, "pipeline": 2}
"""Imports run one way: pipeline -> imagery -> facilities."""


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Project modules imported anywhere in ``path`` (resolved to the longest known module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        for name in names:
            parts = name.split(".")
            while parts and ".".join(parts) not in MODULES:
                parts.pop()
            if parts and parts[0] in PACKAGES:
                found.add(".".join(parts))
    return found


GRAPH = {mod: _imports(path) - {mod} for mod, path in MODULES.items()}


def test_imports_run_one_way() -> None:
    upward = sorted(
        f"{mod} imports {dep}"
        for mod, deps in GRAPH.items()
        for dep in deps
        if FLOOR[dep.split(".")[0]] > FLOOR[mod.split(".")[0]]
    )
    assert upward == []


def test_no_import_cycle() -> None:
    # a package's __init__ is skipped as a node: importing pipeline.cli.x imports pipeline.cli
    graph = {m: {d for d in deps if MODULES[d].name != "__init__.py"}
             for m, deps in GRAPH.items() if MODULES[m].name != "__init__.py"}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for mod in sorted(graph):
        if mod not in state:
            visit(mod, [mod])
    assert cycles == []


@pytest.mark.parametrize("path", sorted(MODULES.values()), ids=lambda p: str(p.relative_to(REPO)))
def test_module_under_500_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) < 500


def test_wings_keep_the_top_level_small() -> None:
    direct = {pkg: sorted(p.name for p in (REPO / pkg).glob("*.py")) for pkg in PACKAGES}
    assert len(direct["pipeline"]) <= 6, direct["pipeline"]
    assert len(direct["imagery"]) <= 16, direct["imagery"]


def _callers(name: str) -> set[str]:
    out = set()
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else (
                    func.attr if isinstance(func, ast.Attribute) else ""
                )
                if called == name:
                    out.add(mod)
    return out


def test_facts_are_computed_in_one_place() -> None:
    assert _callers("find_events") == {"pipeline.run"}  # readers use read_events
    assert _callers("WarpedVRT") == {"imagery.warp"}  # one resampling rule
