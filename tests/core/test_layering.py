"""The pure trading core must not import Django (GUIDE: dependencies point one way)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = ["marketdata/exchanges", "marketdata/feeds", "marketdata/simulator", "bots/engine", "bots/reconcile",
        "bots/backtest"]
FORBIDDEN = ("django", "channels", "celery", "bots.models", "marketdata.models", "bots.services")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("package", PURE)
def test_pure_packages_do_not_import_django_or_the_shell(package):
    files = list((ROOT / package).rglob("*.py"))
    offenders = [
        f"{f.relative_to(ROOT)}: {name}"
        for f in files
        for name in imported_modules(f)
        if name == FORBIDDEN or any(name == m or name.startswith(m + ".") for m in FORBIDDEN)
    ]
    assert not offenders, offenders


def test_the_simulator_imports_nothing_else_from_the_project():
    files = list((ROOT / "marketdata/simulator").rglob("*.py"))
    offenders = [f"{f.relative_to(ROOT)}: {n}" for f in files for n in imported_modules(f)
                 if n.startswith(("marketdata.exchanges", "marketdata.feeds", "bots"))]
    assert not offenders, offenders


def test_the_layering_check_catches_a_django_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from django.db import models\n")
    assert "django.db" in imported_modules(bad)
