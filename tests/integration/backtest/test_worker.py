"""A sweep fanned out to a real Celery worker with two processes (Redis broker, PostgreSQL): every
parameter set's result is stored and pushed to its owner over the Redis channel layer as it lands.
Runs in the CI's second pass (PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bots import events, tasks
from bots.backtest import synthetic
from bots.backtest.bars import write_csv
from bots.models import BacktestSweep
from bots.services import backtest_runs
from marketdata.history import find_market, import_csv
from tests.conftest import requires_postgres, requires_redis

REAL_WORKER = True  # conftest: tasks go to the broker, not in-process
pytestmark = [requires_redis, requires_postgres, pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[3]
QUEUE = f"backtest-test-{os.getpid()}"


def child_env() -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "REDIS_URL": settings.CELERY_BROKER_URL,
            "SECRET_KEY": settings.SECRET_KEY, "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY,
            "PYTHONPATH": str(ROOT)}


@pytest.fixture
def worker(tmp_path):
    log = tmp_path / "worker.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "botplatform", "worker", "--pool=prefork",
         "--concurrency=2", "--prefetch-multiplier=1", "-Q", QUEUE, "-n", f"{QUEUE}@localhost", "--without-mingle",
         "--without-gossip", "--loglevel=INFO", "--logfile", str(log)],
        cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (log.exists() and "ready." in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, "the Celery worker did not start"
        time.sleep(0.2)
    yield log
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_a_sweep_fans_out_to_two_worker_processes_and_reports_each_result_live(alice, catalogue, worker,
                                                                               monkeypatch):
    buffer = io.StringIO()
    write_csv(synthetic(6000, seed=21), buffer)
    buffer.seek(0)
    market = find_market("binance", "BTC/USDT")
    import_csv(market, "1m", buffer)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(alice.pk), channel)
    monkeypatch.setattr(backtest_runs, "CHUNK", 2)
    sweep, chunks = backtest_runs.create_sweep(alice, start=False, market=market, strategy="crossover",
                                               ranges={"fast_period": [5, 8], "slow_period": [20, 30]})
    assert len(chunks) == 2
    for chunk in chunks:
        tasks.run_sweep_chunk.apply_async((chunk,), queue=QUEUE)

    async def collect() -> dict[int, dict]:
        done: dict[int, dict] = {}
        while len(done) < 4:
            msg = await asyncio.wait_for(layer.receive(channel), 120)
            if msg["type"] == "bot.backtest" and msg["status"] == "done":
                done[msg["run_id"]] = msg
        return done

    pushed = async_to_sync(collect)()
    sweep = BacktestSweep.objects.get(pk=sweep.pk)
    runs = {r.pk: r for r in sweep.runs.all()}
    assert set(pushed) == set(runs) and all(r.status == "done" for r in runs.values())
    assert all(pushed[pk]["summary"]["net_profit"] == runs[pk].summary["net_profit"] for pk in runs)
    deadline = time.monotonic() + 30
    while BacktestSweep.objects.get(pk=sweep.pk).status != "done":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert worker.read_text().count("bots.run_sweep_chunk[") == 2  # one task per chunk, through the broker
