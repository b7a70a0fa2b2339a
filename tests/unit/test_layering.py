"""The import graph of syscontainers, read with ``ast`` (nothing is imported): no circle between
modules, and every arrow points down the layers of docs/architecture.md:

    cli  ->  lifecycle  ->  deploy / images / service  ->  foundation modules (paths, errors, ...)

Every import counts, the lazy ones inside functions too: a lazy import only delays the arrow.
Imports under ``if TYPE_CHECKING:`` do not: they name a type for annotations and never run.
``python tests/unit/test_layering.py`` prints the edge count and the arrows that break a rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "src"
TOP = "syscontainers"
PACKAGES = ("cli", "lifecycle", "deploy", "images", "service")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / TOP).rglob("*.py"))}


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The project modules one import statement names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == TOP]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    if prefix.split(".")[0] != TOP:
        return []
    # ``from pkg import mod`` names module pkg.mod; ``from pkg import Name`` names pkg.
    found = [f"{prefix}.{a.name}" for a in node.names if f"{prefix}.{a.name}" in known]
    if len(found) < len(node.names):
        found.append(prefix)
    return found


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph() -> dict[str, set[str]]:
    """{module: the project modules it imports} (self-imports left out)."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
                       for stmt in block.body for n in ast.walk(stmt)}
        edges = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            for target in _targets(node, name, path.name == "__init__.py", known):
                if target != name and target in known:
                    edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative enough for a
    graph of this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> str:
    """The package a module belongs to, or "foundation" for the top-level modules."""
    parts = module.split(".")
    if len(parts) == 1:
        return "root"                       # syscontainers/__init__.py
    return parts[1] if parts[1] in PACKAGES else "foundation"


# Which layers each layer may import (besides itself). images is below or beside deploy:
# deploy may use images' records, never the other way round.
ALLOWED = {
    "foundation": {"foundation"},
    "service": {"foundation"},
    "images": {"foundation"},
    "deploy": {"foundation", "images", "service"},
    "lifecycle": {"foundation", "images", "deploy", "service"},
    "root": {"foundation"},
}
# TOP: __version__; sitedirs: the entry point completes the interpreter's path (a -S launcher)
CLI_ALLOWED = {TOP, f"{TOP}.paths", f"{TOP}.errors", f"{TOP}.sitedirs"}


def wrong_arrows(graph: dict[str, set[str]], source_layer: str) -> list[str]:
    bad = []
    for module in sorted(graph):
        if layer(module) != source_layer:
            continue
        for target in sorted(graph[module]):
            if layer(target) != source_layer and layer(target) not in ALLOWED[source_layer]:
                bad.append(f"{module} -> {target}")
    return bad


def wrong_cli_arrows(graph: dict[str, set[str]]) -> list[str]:
    """cli/ imports only lifecycle, paths, errors and formatting helpers."""
    bad = []
    for module in sorted(graph):
        if layer(module) != "cli":
            continue
        for target in sorted(graph[module]):
            if layer(target) in ("cli", "lifecycle") or target in CLI_ALLOWED \
                    or "format" in target.rsplit(".", 1)[-1]:
                continue
            bad.append(f"{module} -> {target}")
    return bad


def test_the_graph_is_read():
    """The reader itself: known arrows are found (a reader that found nothing would pass every
    rule below)."""
    graph = import_graph()
    assert f"{TOP}.images.store.repo" in graph[f"{TOP}.images.store.store"]     # lazy import
    assert f"{TOP}.images.store.store" in graph[f"{TOP}.images.store"]
    assert f"{TOP}.errors" in graph[f"{TOP}.images.store.repo"]
    assert sum(len(v) for v in graph.values()) > 100


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle():
    graph = import_graph()
    edges = sum(len(v) for v in graph.values())
    print(f"\nimport graph: {len(graph)} modules, {edges} edges")
    assert cycles(graph) == []


@pytest.mark.parametrize("source", ["foundation", "service", "images", "deploy", "lifecycle"])
def test_imports_point_down(source):
    assert wrong_arrows(import_graph(), source) == []


def test_only_the_store_package_loads_libostree():
    """gi is imported by images/store/repo.py alone (docs/architecture.md, "Store seam")."""
    importers = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "gi" or n.startswith("gi.") for n in names):
                importers.append(name)
    assert sorted(set(importers)) == [f"{TOP}.images.store.repo"]


def test_cli_imports_only_lifecycle_paths_errors():
    assert wrong_cli_arrows(import_graph()) == []


if __name__ == "__main__":
    g = import_graph()
    print(f"{len(g)} modules, {sum(len(v) for v in g.values())} import edges")
    for c in cycles(g):
        print("cycle:", " ".join(c))
    for src in ALLOWED:
        for arrow in wrong_arrows(g, src):
            print("upward:", arrow)
    for arrow in wrong_cli_arrows(g):
        print("cli:", arrow)
    sys.exit(0)


def unknown_imports() -> list[str]:
    """Project imports (lazy ones too) that name no module of the tree: a module moved and a
    call site inside a function still uses the old path, which only fails when it runs."""
    modules = _modules()
    known = set(modules)
    bad = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                prefixes = [a.name for a in node.names if a.name.split(".")[0] == TOP]
            elif isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(TOP)):
                is_package = path.name == "__init__.py"
                base = (name.split(".") if is_package else name.split(".")[:-1])
                base = base[:len(base) - (node.level - 1)] if node.level else []
                prefixes = [".".join(base + ([node.module] if node.module else []))] \
                    if node.level else [node.module]
            else:
                continue
            bad += [f"{name}: {p}" for p in prefixes if p not in known]
    return bad


def test_every_project_import_names_a_module():
    assert unknown_imports() == []
