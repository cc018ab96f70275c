"""The market-data core stays plain Python: no Django, Channels or Celery import anywhere in it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PURE = ("marketdata/exchanges", "marketdata/feeds")
FORBIDDEN = ("django", "channels", "celery", "bots", "marketdata.models", "marketdata.simulator")


def test_pure_market_data_packages_import_no_framework() -> None:
    offenders = []
    for package in PURE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                              if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]  # fmt: skip
    assert offenders == []
