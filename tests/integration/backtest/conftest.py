"""Backtest tests run their Celery tasks in-process (also when REDIS_URL points Celery at a broker) and
in the caller, so the page's POST returns with the task done: they test the pages and services.
``test_worker`` and the benchmark use real worker processes; a module with ``LOCAL_THREADS = True``
gets the single-machine mode's local worker threads (``test_local_worker``)."""

from __future__ import annotations

import pytest

from bots.backtest import synthetic
from bots.backtest.bars import write_csv
from marketdata.history import find_market, import_csv

BARS = 12_000  # stored by ``market``: more than two progress steps (one per 5,000 bars)


@pytest.fixture(autouse=True)
def eager_celery(request):
    if getattr(request.module, "REAL_WORKER", False):
        yield
        return
    from django.conf import settings

    from botplatform.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates, settings.LOCAL_TASK_THREADS
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    if not getattr(request.module, "LOCAL_THREADS", False):
        settings.LOCAL_TASK_THREADS = 0
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates, settings.LOCAL_TASK_THREADS = saved


@pytest.fixture
def market(catalogue, tmp_path):
    """Binance BTC/USDT with ``BARS`` synthetic 1-minute candles stored (modules may define their own)."""
    path = tmp_path / "btc.csv"
    with path.open("w") as f:
        write_csv(synthetic(BARS, seed=9), f)
    m = find_market("binance", "BTC/USDT")
    with path.open() as f:
        import_csv(m, "1m", f)
    return m
