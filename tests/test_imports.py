"""Imports run one way through the library: no module, by any import at any depth (inside a
function too), leads back to itself. Read from the source with ``ast``; nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "alexnet_viz"
PACKAGE = "alexnet_viz"


def _modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the library (a package is its __init__)."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the library modules it imports. ``from .render import tiles`` counts as
    importing alexnet_viz.render.tiles and, as Python does first, alexnet_viz.render. A module's
    own packages (the root among them) are left out: it is always loaded from inside them."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                targets.add(origin)
                targets |= {f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in modules}
        edges = set()
        for target in targets:
            parts = target.split(".")
            edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # a submodule brings its packages
        own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)}
        graph[name] = (edges & set(modules)) - own
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "alexnet_viz.walkthrough" in graph["alexnet_viz.network"], "imported inside build_body"
    assert "alexnet_viz.heatmaps" in graph["alexnet_viz.render.attribution"], "from ..heatmaps import"
    assert {"alexnet_viz.render.colour", "alexnet_viz.render.tiles"} <= graph["alexnet_viz.render"]
    assert "alexnet_viz.render" in graph["alexnet_viz.cli"], "from .render import …, inside a function"
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles():
    assert cycles(import_graph()) == []
