"""The sweep row of ``bench_backtest``: 100 crossover parameter sets over a year of stored minutes
(525,600 bars), fanned out as Celery tasks to two worker processes.

A scratch PostgreSQL database (on ``DATABASE_URL``'s server) gets the catalogue and the year of
synthetic candles; a Celery worker with two prefork processes (``REDIS_URL`` as broker) runs the
chunks; the clock runs from the sweep's creation to its last result stored. Without PostgreSQL and
Redis the row says so instead of measuring something else.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import scratch_postgres

ROOT = Path(__file__).resolve().parent.parent
BARS, SETS, GOAL_S = 525_600, 100, 300.0

SEED = r"""
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("load_catalogue", verbosity=0)
from bots.backtest import synthetic
from marketdata.history import find_market, store_rows
market = find_market("binance", "BTC/USDT")
batch = []
for bar in synthetic(__BARS__, seed=1):
    batch.append(bar)
    if len(batch) == 20_000:
        store_rows(market, "1m", batch)
        batch = []
store_rows(market, "1m", batch)
print("RESULT " + json.dumps({"ok": True}))
"""

SWEEP = r"""
import django, json, time
django.setup()
from django.contrib.auth import get_user_model
from bots.models import BacktestSweep
from bots.services.backtest_runs import create_sweep
from marketdata.history import find_market
user = get_user_model().objects.create_user("bench")
start = time.perf_counter()
# Not in a transaction: each chunk's task is sent as the sweep is created.
sweep, chunks = create_sweep(user, market=find_market("binance", "BTC/USDT"), strategy="crossover",
                             ranges={"fast_period": list(range(5, 15)), "slow_period": list(range(20, 70, 5))})
while BacktestSweep.objects.get(pk=sweep.pk).status != "done" and time.perf_counter() - start < 1200:
    time.sleep(1)
seconds = time.perf_counter() - start
runs = list(sweep.runs.values_list("status", "summary"))
best = max((s.get("net_profit") for st, s in runs if st == "done"), key=lambda v: float(v), default=None)
print("RESULT " + json.dumps({"seconds": seconds, "sets": sweep.total, "chunks": len(chunks),
                              "done": sum(st == "done" for st, _ in runs), "best": best,
                              "bars": runs[0][1].get("bars") if runs else None}))
"""


def row(name: str, value: float | None, unit: str, baseline: float | None, note: str) -> dict[str, Any]:
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    return {"name": name, "value": None if value is None else round(value, 3), "unit": unit,
            "baseline": baseline, "ratio": ratio, "note": note}


def _child(code: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=timeout)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"sweep benchmark child failed: {out.stderr[-3000:]}")


def sweep_row() -> dict[str, Any]:
    """Time the sweep, or say why it cannot run here."""
    name = f"sweep {SETS} parameter sets over {BARS:,} bars"
    db_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not db_url.startswith("postgres") or not redis_url:
        return row(name, None, "s", GOAL_S, "needs DATABASE_URL (PostgreSQL) and REDIS_URL: not measured")
    url, drop = scratch_postgres(db_url, "bench_sweep")
    env = dict(os.environ, DATABASE_URL=url, REDIS_URL=redis_url, PYTHONPATH=str(ROOT),
               DJANGO_SETTINGS_MODULE="botplatform.settings")
    worker = None
    try:
        t0 = time.perf_counter()
        _child(SEED.replace("__BARS__", str(BARS)), env, 1800)
        seeded = time.perf_counter() - t0
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load0 = os.getloadavg()[0]
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "botplatform", "worker", "--concurrency", "2", "--pool",
             "prefork", "--prefetch-multiplier", "1", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
             "-n", f"bench-sweep-{os.getpid()}@%h"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        r = _child(SWEEP, env, 1500)
        load1 = os.getloadavg()[0]
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        drop()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The worker's processes and the sweep's own child, reaped above: what two idle cores would need.
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    note = (f"{r['done']}/{r['sets']} parameter sets (SMA crossover, fast 5-14 x slow 20-65) over {r['bars']:,} stored "
            f"1m bars each, {r['chunks']} Celery tasks on one worker with two processes (PostgreSQL, Redis "
            f"broker); each task replays its sets in one pass over the history; best net profit {r['best']}; "
            f"seeding the year of candles took {seeded:.0f} s (not counted); {cpu:.0f} CPU seconds in the worker "
            f"and sweep processes, i.e. about {cpu / 2:.0f} s on two idle cores; load average {load0:.1f} at the "
            f"start and {load1:.1f} at the end on this shared machine")
    return row(name, r["seconds"], "s", GOAL_S, note)
