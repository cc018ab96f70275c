"""Backtest benchmarks.

``backtest bars per second``: 1,000,000 synthetic 1-minute bars (streamed from a generator, never held)
through the live SMA 10/30 crossover (``bots.backtest`` driving the engine's ``BotRunner``, risk
checks and the paper fill model), in a fresh process on one core; goal at least 100,000 bars/s (the
anchors measured on this machine: backtrader ~7,000, NautilusTrader ~11,000, backtesting.py ~92,000).
The same process reports its peak RSS after 100,000 and after 1,000,000 bars: flat memory means the
two are close.

``sweep 100 parameter sets over 525,600 bars``: a year of minutes stored in a scratch database, a grid
of 100 crossover parameter sets fanned out as Celery tasks to two worker processes (Redis broker);
goal at most 5 minutes. Needs ``DATABASE_URL`` and ``REDIS_URL`` (PostgreSQL and Redis); without
them the row says so.

Run alone: ``python -m bench.bench_backtest`` (prints the rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BARS, GOAL, REPEAT = 1_000_000, 100_000.0, 3
SWEEP_BARS, SWEEP_SETS, SWEEP_GOAL_S = 525_600, 100, 300.0

REPLAY = r"""
import json, resource, sys, time
from bots.backtest import BacktestConfig, run_backtest, synthetic

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

config = BacktestConfig("crossover", {"fast_period": 10, "slow_period": 30, "average": "sma", "timeframe": "1m"})
run_backtest(config, synthetic(100_000))
small = rss_mb()
times = []
for _ in range(__REPEAT__):  # the median of a few runs: one run on a loaded machine can be unlucky
    start, cpu = time.perf_counter(), time.process_time()
    result = run_backtest(config, synthetic(__BARS__))
    times.append((time.process_time() - cpu, time.perf_counter() - start))
cpus, walls = sorted(c for c, _ in times), sorted(w for _, w in times)
print("RESULT " + json.dumps({"seconds": walls[len(walls) // 2], "cpu": cpus[len(cpus) // 2], "runs": len(times),
                              "trades": result.summary["trades"], "rss_small": small, "rss_large": rss_mb()}))
"""


def row(name: str, value: float | None, unit: str, baseline: float | None, note: str) -> dict[str, Any]:
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    return {"name": name, "value": None if value is None else round(value, 3), "unit": unit,
            "baseline": baseline, "ratio": ratio, "note": note}


def child(code: str, timeout: float = 900) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"benchmark child failed: {out.stderr[-3000:]}")


def replay_row() -> dict[str, Any]:
    r = child(REPLAY.replace("__BARS__", str(BARS)).replace("__REPEAT__", str(REPEAT)))
    rate = BARS / r["cpu"]
    return row("backtest bars per second", rate, "bars/s", GOAL,
               f"{BARS:,} synthetic 1m bars, SMA 10/30 crossover through the live BotRunner and paper fills, "
               f"Decimal money, one process; median of {r['runs']} runs, per CPU second ({r['cpu']:.1f} s of CPU; "
               f"{BARS / r['seconds']:,.0f} bars/s by the wall clock on this shared machine); {r['trades']} round "
               f"trips; peak RSS {r['rss_small']:.0f} MB after 100k bars, {r['rss_large']:.0f} MB after 1M (streamed)")


def run() -> list[dict[str, Any]]:
    """The rows: replay speed (goal 100,000 bars/s) and the Celery sweep (goal 5 minutes)."""
    rows = [replay_row()]
    from bench.backtest_sweep import sweep_row  # the Celery sweep needs the whole platform

    rows.append(sweep_row())
    return rows


if __name__ == "__main__":
    for item in run():
        print(item)
