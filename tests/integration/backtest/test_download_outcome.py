"""A history download always ends: done, or failed with a reason on the page. Never left "running" with a
full progress bar because its last write met a locked database, and never left "running" by a worker or
platform that stopped half-way (detected by its heartbeat; the task's redelivery resumes it)."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test import Client

from marketdata import history
from marketdata.history import find_market
from marketdata.models import Candle, Exchange, HistoryDownload
from marketdata.simulator import SimulatorThread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def sim():
    with SimulatorThread(seed=8, venues=("binance",)) as s:
        yield s


@pytest.fixture
def alice_client(alice):
    c = Client()
    c.force_login(alice)
    return c


@pytest.fixture
def market(catalogue, sim):
    Exchange.objects.filter(code="binance").update(rest_url=sim.urls["binance"].rest)
    return find_market("binance", "BTC/USDT")


def since_hours(hours: int) -> datetime:
    return (datetime.now(UTC) - timedelta(hours=hours)).replace(second=0, microsecond=0)


class WriterHoldsTheDatabase:
    """Another connection (the engine's writer, say) in a write transaction on the downloads table for a
    while, started the moment the download's progress bar is full: the download's last write meets it."""

    def __init__(self, hold: float = 1.5) -> None:
        self.hold = hold
        self.started = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self, download) -> None:
        if self.thread is None and download.status == "running" and download.progress >= 1.0:
            self.thread = threading.Thread(target=self.run, args=(download.pk,), daemon=True)
            self.thread.start()
            assert self.started.wait(10)

    def run(self, pk: int) -> None:
        try:
            with transaction.atomic():
                HistoryDownload.objects.filter(pk=pk).update(stored=0)
                self.started.set()
                threading.Event().wait(self.hold)
        finally:
            connection.close()


def test_a_download_whose_last_write_meets_a_locked_database_still_ends_done(
        alice_client, market, monkeypatch, django_capture_on_commit_callbacks):
    holder = WriterHoldsTheDatabase()
    real_publish = history.publish_history

    def publish(download):
        real_publish(download)
        holder(download)

    monkeypatch.setattr(history, "publish_history", publish)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/market/history/download/", {
            "market": market.pk, "timeframe": "1m", "since": since_hours(3).strftime("%Y-%m-%d %H:%M"), "until": ""})
    assert response.status_code == 302
    holder.thread.join(10)
    download = HistoryDownload.objects.get()
    assert download.status == "done", (download.status, download.error)
    assert download.progress == 1.0 and download.stored == Candle.objects.series(market, "1m").count() >= 179
    assert download.finished_at is not None


def abandoned(market, minutes_ago: int) -> HistoryDownload:
    """What a worker killed half-way (or a platform stopped with Ctrl-C) leaves behind."""
    beat = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    download = HistoryDownload.objects.create(market=market, timeframe="1m", since=since_hours(2))
    HistoryDownload.objects.filter(pk=download.pk).update(status="running", progress=0.4, heartbeat_at=beat)
    return download


def test_an_abandoned_download_is_shown_failed_with_its_reason(alice_client, market):
    stale = abandoned(market, minutes_ago=10)
    alive = abandoned(market, minutes_ago=0)  # its worker wrote progress a moment ago
    page = alice_client.get("/market/history/").content.decode()
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == "failed" and stale.finished_at is not None
    assert "stopped without finishing" in stale.error and "stopped without finishing" in page
    assert alive.status == "running"
    snapshot = alice_client.get("/market/history/snapshot.json").json()["downloads"]
    assert {d["download_id"]: d["status"] for d in snapshot} == {stale.pk: "failed", alive.pk: "running"}


def test_a_redelivered_task_resumes_an_abandoned_download_to_done(market):
    stale = abandoned(market, minutes_ago=10)
    alive = abandoned(market, minutes_ago=0)
    # Celery redelivers a task whose worker was lost (acks_late): it takes the stale download over.
    assert history.run_download(stale.pk) == "done"
    stale.refresh_from_db()
    assert stale.status == "done" and stale.progress == 1.0 and stale.error == ""
    assert stale.stored == Candle.objects.series(market, "1m").count() >= 119
    # A running download whose worker is alive is left to it: a duplicate delivery does nothing.
    assert history.run_download(alive.pk) == "running"


def test_a_failed_download_is_resumed_from_the_page(alice_client, market, django_capture_on_commit_callbacks):
    stale = abandoned(market, minutes_ago=10)
    page = alice_client.get("/market/history/").content.decode()
    form = page.split('class="inline resume-form"')[1].split("</form>")[0]
    values = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert values["market"] == str(market.pk) and values["since"] == stale.since.strftime("%Y-%m-%d %H:%M")
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.post("/market/history/download/", values).status_code == 302
    again = HistoryDownload.objects.exclude(pk=stale.pk).get()
    assert again.status == "done" and again.since == stale.since and again.stored >= 119
