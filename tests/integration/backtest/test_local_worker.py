"""The single-machine mode (eager Celery, no worker): a download or a backtest started from the page runs
on a local worker thread, not inside the POST. The POST returns (a redirect to the page with the
progress bar) while the task is still half-way, which the test holds there with an event it controls;
released, the task ends done."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from bots import events
from bots.backtest import synthetic
from bots.backtest.bars import write_csv
from bots.models import BacktestRun
from bots.services import backtest_runs
from marketdata import history
from marketdata.history import find_market, import_csv
from marketdata.models import Candle, Exchange, HistoryDownload
from marketdata.simulator import SimulatorThread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
LOCAL_THREADS = True  # conftest: the local worker threads of `make run`, not the task in the caller


@pytest.fixture(autouse=True)
def single_machine_mode(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # also when REDIS_URL is set: no broker, no worker
    settings.LOCAL_TASK_THREADS = 2


@pytest.fixture
def alice_client(alice):
    c = Client()
    c.force_login(alice)
    return c


class HoldHalfWay:
    """Wraps a progress publisher: the first push of a running task with 0 < progress < 1 records the
    thread it came from and waits until the test releases it."""

    def __init__(self, real) -> None:
        self.real, self.reached, self.release = real, threading.Event(), threading.Event()
        self.thread: str | None = None

    def __call__(self, row) -> None:
        self.real(row)
        if not self.reached.is_set() and row.status == "running" and 0 < row.progress < 1:
            self.thread = threading.current_thread().name
            self.reached.set()
            assert self.release.wait(60)


def wait_for(predicate, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_download_started_from_the_page_runs_after_the_post_returns(alice_client, catalogue, monkeypatch):
    hold = HoldHalfWay(history.publish_history)
    monkeypatch.setattr(history, "publish_history", hold)
    since = (datetime.now(UTC) - timedelta(hours=30)).replace(second=0, microsecond=0)
    with SimulatorThread(seed=9, venues=("binance",)) as sim:
        Exchange.objects.filter(code="binance").update(rest_url=sim.urls["binance"].rest)
        market = find_market("binance", "BTC/USDT")
        try:
            response = alice_client.post("/market/history/download/", {
                "market": market.pk, "timeframe": "1m", "since": since.strftime("%Y-%m-%d %H:%M"), "until": ""})
            assert response.status_code == 302
            assert hold.reached.wait(60)  # the task got half-way ...
            download = HistoryDownload.objects.get()
            assert download.status == "running" and 0 < download.progress < 1  # ... and is held there
            assert hold.thread and hold.thread.startswith("local-task-")
        finally:
            hold.release.set()
        wait_for(lambda: HistoryDownload.objects.get().status != "running")
    download = HistoryDownload.objects.get()
    assert download.status == "done" and download.progress == 1.0, (download.status, download.error)
    assert download.stored == Candle.objects.series(market, "1m").count() > 500


def test_a_backtest_started_from_the_page_runs_after_the_post_returns(alice_client, catalogue, monkeypatch):
    buffer = io.StringIO()
    write_csv(synthetic(20_000, seed=5), buffer)
    buffer.seek(0)
    market = find_market("binance", "BTC/USDT")
    import_csv(market, "1m", buffer)
    hold = HoldHalfWay(events.publish_backtest)
    monkeypatch.setattr(events, "publish_backtest", hold)
    monkeypatch.setattr(backtest_runs, "PROGRESS_SECONDS", 0)
    try:
        response = alice_client.post("/backtests/", {
            "strategy": "crossover", "param-crossover-fast_period": "10", "param-crossover-slow_period": "30",
            "market": market.pk, "timeframe": "1m", "since": "", "until": "", "capital": "1000",
            "order_size": "500", "slippage_bps": "5"})
        assert response.status_code == 302
        run = BacktestRun.objects.get()
        assert response["Location"] == f"/backtests/{run.pk}/"
        assert hold.reached.wait(60)
        run.refresh_from_db()
        assert run.status == "running" and 0 < run.progress < 1
        assert hold.thread and hold.thread.startswith("local-task-")
        page = alice_client.get(response["Location"]).content.decode()  # the page is served meanwhile
        assert 'id="progress-section"' in page
        # ... and another connection writes meanwhile (the engine's writer, say): the run's next progress
        # write must not meet "database is locked" on SQLite (its candle stream holds no read open).
        Exchange.objects.filter(code="binance").update(rest_url="http://127.0.0.1:9/")
    finally:
        hold.release.set()
    wait_for(lambda: BacktestRun.objects.get().status != "running")
    run = BacktestRun.objects.get()
    assert run.status == "done" and run.summary["bars"] == 20_000, (run.status, run.error)
