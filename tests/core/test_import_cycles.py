"""No import cycles between the project's modules.

The graph has an edge ``a -> b`` for every import of project module ``b`` anywhere in ``a``: at module
level, inside a function, and under ``if TYPE_CHECKING:``. A function-level import or a type-only import
that closes a cycle does not remove it, it hides it: the two modules still know each other, and the
next top-level import between them fails at start-up. The cure is to move what both need into a module
below them (a protocol, a type, a constant), or to pass it in (a factory, a callback). Lazy imports
that are not part of a cycle (to keep a heavy or optional dependency off a start-up path) are fine.

Resolution: ``from a import b`` is an edge to module ``a.b`` if that is a module, else to ``a``; an
import of a name outside the project is no edge. Importing ``a.b.c`` also runs the ``__init__`` of
``a`` and ``a.b``, but those implicit edges are not counted: a package's ``__init__`` re-exporting its
modules is the package's public face, not a cycle with them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every top-level package of the project but the tests (a new app or package is checked without an edit here).
PACKAGES = tuple(sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"))


def project_modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module of the project by dotted name (``bots.engine`` for ``bots/engine/__init__.py``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module ``name`` imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[:len(here) - (node.level - 1)]
                base = ".".join(here + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            while target and target not in modules:  # ``import a.b.func``-style names: their nearest module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    members = set(component)
    return "; ".join(f"{a} -> {b}" for a in component for b in sorted(graph[a] & members))


def test_the_project_has_no_import_cycles():
    graph = import_graph(ROOT)
    assert len(graph) > 100  # the walk found the project
    found = [describe(graph, c) for c in cycles(graph)]
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_check_finds_cycles_hidden_in_functions_and_type_checking_blocks(tmp_path):
    pkg = tmp_path / "bots"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("from .engine import Engine\n")  # re-export: no cycle
    (pkg / "engine" / "engine.py").write_text("from .flow import Flow\nfrom bots.engine.types import T\n")
    (pkg / "engine" / "flow.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .engine import Engine\n")
    (pkg / "engine" / "types.py").write_text("import decimal\n")
    (pkg / "events.py").write_text("def remember():\n    from .services import snapshots\n")
    (pkg / "services").mkdir()
    (pkg / "services" / "__init__.py").write_text("")
    (pkg / "services" / "snapshots.py").write_text("from .. import events\nfrom ..engine import types\n")
    graph = import_graph(tmp_path, ("bots",))
    assert graph["bots.engine.engine"] == {"bots.engine.flow", "bots.engine.types"}
    assert cycles(graph) == [["bots.engine.engine", "bots.engine.flow"], ["bots.events", "bots.services.snapshots"]]

    (pkg / "engine" / "flow.py").write_text("from .types import T\n")
    (pkg / "events.py").write_text("X = 1\n")
    assert cycles(import_graph(tmp_path, ("bots",))) == []
