"""Imports run one way through the library and through the app: no module, by any import at any
depth (inside a function too), leads back to itself; and every module says its one job in its
docstring's first line. Read from the source with ``ast``; nothing is imported."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "alexnet_viz"
PACKAGE = "alexnet_viz"
APP = ROOT.parent / "app"
FIRST_LINE_MAX = 120  # characters: a sentence read at a glance, not a paragraph


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


def _app_modules() -> dict[str, Path]:
    """Import name -> file, for every module of the app: its modules by the bare names they import
    each other by (streamlit_app.py puts app/ on the path), each page as ``views.<name>``."""
    return {".".join(path.relative_to(APP).with_suffix("").parts): path for path in sorted(APP.rglob("*.py"))}


def app_import_graph() -> dict[str, set[str]]:
    """App module -> the app modules it imports (``import cache``, ``from state import …``), at any
    depth. The app imports the library, never the reverse, so a cycle cannot pass through both."""
    modules = _app_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                targets.add(node.module or "")
        graph[name] = (targets & set(modules)) - {name}
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


def test_the_app_graph_sees_its_modules_imports_inside_functions_too():
    graph = app_import_graph()
    assert {"cache", "links", "replica", "state"} <= graph["sidebar"], "import …, and from state import …"
    assert "work" in graph["server"], "imported inside _reap_once"
    assert "sidebar" in graph["classroom"], "imported inside _take_photo"
    assert {"sidebar", "links"} <= graph["views.predict"]
    assert not graph["state"] - {"cache"}, "the session model imports no module that draws (sidebar, pages)"


def test_no_import_cycles_in_the_app():
    assert cycles(app_import_graph()) == []


def _module_files() -> list[str]:
    """Every module of the library and the app, as a path from the repository's root."""
    return sorted(str(p.relative_to(ROOT.parent)) for p in {*_modules().values(), *_app_modules().values()})


@pytest.mark.parametrize("path", _module_files())
def test_every_module_names_its_job_in_one_sentence(path):
    """Whether the sentence names one job is for a reader (issue 21, item 6); this checks there is
    one: a docstring whose first line is a whole sentence, short enough to read at a glance."""
    file = ROOT.parent / path
    doc = ast.get_docstring(ast.parse(file.read_text(), path), clean=False)
    assert doc is not None, f"{path} has no docstring"
    first = doc.split("\n", 1)[0].strip()
    assert first, f"{path}'s docstring starts with an empty line"
    assert first.endswith((".", "?", "!")), f"{path}'s first line runs on to the next: {first!r}"
    assert len(first) <= FIRST_LINE_MAX, f"{path}'s first line is {len(first)} characters: {first!r}"
