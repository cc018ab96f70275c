"""Dependencies point one way (docs/architecture.md): the pure core imports no Django, Channels, Celery
or shell module, the simulator imports nothing else from the project, no module imports an entry point
(consumers, tasks, admin, views, management commands: only the wiring in ``routing``/``urls``/
``botplatform`` may), and no module imports another module's private (``_underscored``) names.

The checker walks every import in a file (module level, inside functions and under ``TYPE_CHECKING``):
a lazy import of Django in the core is as much a violation as a top-level one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .test_import_cycles import PACKAGES, import_graph

ROOT = Path(__file__).resolve().parents[2]
PURE = ["marketdata/exchanges", "marketdata/feeds", "marketdata/simulator", "bots/engine", "bots/reconcile"]
FORBIDDEN = ("django", "channels", "celery", "bots.models", "marketdata.models", "bots.services")
SIMULATOR_FORBIDDEN = ("marketdata", "bots", "botplatform")


def imported_modules(path: Path) -> list[str]:
    """Every absolute module a file imports (``import a.b`` gives ``a.b``; ``from a import b``, ``a``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def matches(name: str, prefixes: tuple[str, ...]) -> bool:
    """``name`` is one of ``prefixes`` or a submodule of one (``django.db`` matches ``django``, ``djangox`` not)."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(root: Path, packages: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """``path: module`` for every import of a forbidden module in the packages' files under ``root``."""
    return [f"{f.relative_to(root)}: {name}"
            for package in packages for f in sorted((root / package).rglob("*.py"))
            for name in imported_modules(f) if matches(name, forbidden)]


PROJECT = list(PACKAGES)
ENTRY_POINT = re.compile(r"\.(consumers|tasks|admin|views)(\.|$)|\.management\.commands\.")
WIRING = re.compile(r"\.(routing|urls)$|^botplatform(\.|$)")


def entry_point_imports(graph: dict[str, set[str]]) -> list[str]:
    """``a -> b`` where ``b`` is an entry point and ``a`` is neither wiring nor part of the same entry point."""
    return [f"{a} -> {b}" for a, targets in sorted(graph.items()) for b in sorted(targets)
            if ENTRY_POINT.search(b) and not WIRING.search(a)
            and not (ENTRY_POINT.search(a) and a.split(".")[:2] == b.split(".")[:2])]


def private_imports(root: Path, packages: list[str]) -> list[str]:
    """``path: module.name`` for every ``from module import _name`` (a name another module keeps private)."""
    found = []
    for package in packages:
        for f in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(f.read_text(), filename=str(f))):
                if isinstance(node, ast.ImportFrom):
                    found += [f"{f.relative_to(root)}: {'.' * node.level}{node.module or ''}.{a.name}"
                              for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    return found


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_do_not_import_django_or_the_shell(package):
    assert not violations(ROOT, [package], FORBIDDEN)


def test_the_simulator_imports_nothing_else_from_the_project():
    # relative imports stay inside the package; an absolute one to the project leaves it
    assert not violations(ROOT, ["marketdata/simulator"], SIMULATOR_FORBIDDEN)


def test_no_module_imports_an_entry_point():
    assert not entry_point_imports(import_graph(ROOT))


def test_the_entry_point_check_fails_on_a_planted_import():
    graph = {"bots.events": {"marketdata.consumers"}, "bots.routing": {"bots.consumers"},
             "bots.views.pages": {"bots.views.forms_view", "bots.services.portal"},
             "bots.services.jobs": {"bots.tasks"}, "bots.admin": {"bots.views"},
             "bots.platform": {"bots.management.commands.run"}}
    assert entry_point_imports(graph) == ["bots.admin -> bots.views", "bots.events -> marketdata.consumers",
                                          "bots.platform -> bots.management.commands.run",
                                          "bots.services.jobs -> bots.tasks"]


def test_no_module_imports_another_modules_private_names():
    assert not private_imports(ROOT, PROJECT)


def test_the_checker_fails_on_a_planted_violation(tmp_path):
    core = tmp_path / "bots" / "engine"
    core.mkdir(parents=True)
    (core / "clean.py").write_text("from decimal import Decimal\nimport djangox\nfrom marketdata.feeds import types\n")
    (core / "top.py").write_text("from django.db import models\n")
    (core / "lazy.py").write_text("def f():\n    import channels.layers\n    from bots.services.orders import x\n")
    (core / "plain.py").write_text("import celery\n")
    found = violations(tmp_path, ["bots/engine"], FORBIDDEN)
    assert sorted(found) == ["bots/engine/lazy.py: bots.services.orders", "bots/engine/lazy.py: channels.layers",
                             "bots/engine/plain.py: celery", "bots/engine/top.py: django.db"]
    simulator = tmp_path / "marketdata" / "simulator"
    simulator.mkdir(parents=True)
    (simulator / "venue.py").write_text("from .model import Market\nfrom marketdata.feeds.types import Trade\n")
    assert violations(tmp_path, ["marketdata/simulator"], SIMULATOR_FORBIDDEN) == [
        "marketdata/simulator/venue.py: marketdata.feeds.types"]

    (core / "reuse.py").write_text("from .parse import _d, wire\nfrom marketdata.base import __version__\n")
    assert private_imports(tmp_path, ["bots"]) == ["bots/engine/reuse.py: .parse._d"]
