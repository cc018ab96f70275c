"""The benchmark runner's report: a partial run replaces the rows of the modules it ran, failures included."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from bench import run


def _module(monkeypatch: pytest.MonkeyPatch, name: str, rows: list[dict] | Exception) -> None:
    module = types.ModuleType(name)

    def bench_rows() -> list[dict]:
        if isinstance(rows, Exception):
            raise rows
        return rows

    module.run = bench_rows  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)


def _row(name: str, value: float) -> dict:
    return {"name": name, "value": value, "unit": "ms", "baseline": None, "ratio": None}


def test_a_partial_run_replaces_its_modules_rows_and_their_old_failure(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "RESULTS", tmp_path)
    monkeypatch.setattr(run, "modules", lambda filters: [f"bench.bench_{f}" for f in filters])
    _module(monkeypatch, "bench.bench_alpha", [_row("alpha p99", 1.0)])
    _module(monkeypatch, "bench.bench_beta", RuntimeError("venue down"))
    assert run.main(["alpha", "beta"]) == 1
    names = [r["name"] for r in json.loads((tmp_path / "latest.json").read_text())]
    assert names == ["alpha p99", "bench.bench_beta failed"]

    _module(monkeypatch, "bench.bench_beta", [_row("beta p99", 2.0)])
    assert run.main(["beta"]) == 0
    rows = json.loads((tmp_path / "latest.json").read_text())
    assert [r["name"] for r in rows] == ["alpha p99", "beta p99"]  # alpha kept, beta's failure gone
    assert "bench.bench_beta failed" not in (tmp_path / "latest.md").read_text()
