"""Benchmark runner: ``python -m bench.run [name ...]`` (``make bench``).

Imports every ``bench/bench_*.py`` (or only those whose name contains one of the arguments, keeping
the other modules' rows of the previous report), calls
its ``run() -> list[dict]`` and writes ``bench/results/latest.json`` (the list of rows
``{"name", "value", "unit", "baseline", "ratio"}``) and ``bench/results/latest.md`` (the same rows
as a table, with the machine they were measured on). A module that fails adds a row saying so and
the others still run.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> dict[str, Any]:
    """Cores, CPU model, Python and OS of this run."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": model,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def modules(filters: list[str]) -> list[str]:
    """Importable names of the selected ``bench_*.py`` modules, sorted."""
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if filters:
        names = [n for n in names if any(f in n for f in filters)]
    return [f"bench.{n}" for n in names]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,.3f}" if abs(value) < 1000 and isinstance(value, float) else f"{value:,.0f}"
    return str(value)


def markdown(rows: list[dict[str, Any]], info: dict[str, Any], started: str, seconds: float) -> str:
    """The Markdown report."""
    out = [
        "# Benchmark results",
        "",
        f"Run {started} in {seconds:.1f} s on {info['cpu']} ({info['cores']} cores, {info['usable_cores']} usable), "
        f"{info['implementation']} {info['python']}, {info['os']}; load average before the run: "
        f"{info['load_average']}.",
        "",
        "| measure | value | unit | baseline | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['name']} | {_fmt(r['value'])} | {r['unit']} | {_fmt(r['baseline'])} | {_fmt(r['ratio'])} |"
        )
    notes = [r for r in rows if r.get("note")]
    if notes:
        out += ["", "## Notes", ""]
        out += [f"- **{r['name']}**: {r['note']}" for r in notes]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    """Run the benchmarks and write the reports; exit status 1 if a module failed."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botplatform.settings")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    info = machine()
    t0 = time.monotonic()
    rows: list[dict[str, Any]] = []
    failed = False
    selected = modules(argv)
    for name in selected:
        print(f"== {name}", flush=True)
        try:
            module_rows = importlib.import_module(name).run()
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            failed = True
            module_rows = [{"name": f"{name} failed", "value": None, "unit": "", "baseline": None, "ratio": None,
                            "note": repr(exc)[:300]}]  # fmt: skip
        for row in module_rows:
            print(f"   {row['name']}: {_fmt(row['value'])} {row['unit']} (baseline {_fmt(row['baseline'])})")
        rows.extend(module_rows)
    RESULTS.mkdir(exist_ok=True)
    if argv and (RESULTS / "latest.json").exists():
        # A partial run keeps the other benchmarks' rows from the previous report (but not the failure row of
        # a module that ran again).
        fresh = {r["name"] for r in rows} | {f"{name} failed" for name in selected}
        kept = [r for r in json.loads((RESULTS / "latest.json").read_text()) if r.get("name") not in fresh]
        rows = kept + rows
    (RESULTS / "latest.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    (RESULTS / "latest.md").write_text(markdown(rows, info, started, time.monotonic() - t0))
    print(f"wrote {RESULTS / 'latest.json'} and latest.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
