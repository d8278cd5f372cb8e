"""The package's structure, read from its source with `ast`: layers, import loops, module sizes.

The layer order is written once, here (DESIGN.md, Layout): a module may import its own layer and
the layers below it, never one above. Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "multitag"

# Lowest first. A name is the first part of a module's path below `multitag`.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exceptions", "fileio", "options"),
    ("data",),
    ("features", "metrics"),
    ("decision",),
    ("models",),
    ("training",),
    ("bundle",),
    ("pipeline",),
    ("estimator", "report", "serving", "demo"),
    ("cli",),
    ("__init__", "__main__"),
)
MAX_TOP_LEVEL_MODULES = 6
MAX_LINES = 400


def _layer_of(module: str) -> int:
    concern = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if concern in names:
            return rank
    raise AssertionError(f"{module}: its concern {concern!r} has no layer in LAYERS")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every multitag module `path` imports (`from multitag.x import y` counts y when y is a
    module of the package, else x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("multitag"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.startswith("multitag"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {name for name in found if name != "multitag"}


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {_module_name(p): p for p in SOURCES}
GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def test_every_concern_has_a_layer() -> None:
    for name in MODULES:
        if name != "multitag":
            _layer_of(name)


@pytest.mark.parametrize("module", sorted(n for n in MODULES if n != "multitag"))
def test_no_import_from_a_higher_layer(module: str) -> None:
    if _layer_of(module) == len(LAYERS) - 1:
        return
    upward = sorted(t for t in GRAPH[module] if t in MODULES and t != "multitag"
                    and _layer_of(t) > _layer_of(module))
    assert not upward, f"{module} (layer {_layer_of(module)}) imports higher layers: {upward}"


def test_no_import_loops() -> None:
    """Tarjan's strongly connected components over module imports: every one is a single
    module (packages' `__init__` re-exports count as imports too)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH.get(node, ()):
            if target not in MODULES:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for name in sorted(MODULES):
        if name not in index:
            visit(name)
    assert not loops, f"import loops: {loops}"


def test_top_level_holds_few_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_the_size_limit(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test can fail: an import from data into the CLI is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from multitag.cli.train import train\n")
    assert "multitag.cli.train" in _imports(bad)
    assert _layer_of("multitag.cli.train") > _layer_of("multitag.data.dataset")


def _private_uses(path: Path) -> list[str]:
    """Private names (leading underscore) this module takes from another multitag module:
    `from multitag.x import _y`, or `x._y` where `x` is an imported multitag module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "multitag") and node.level == 0:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}.{alias.name}")
                if f"{node.module}.{alias.name}" in MODULES:
                    modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names
                           if a.name.startswith("multitag") and a.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in modules and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_is_used_across_modules(path: Path) -> None:
    assert not _private_uses(path)
