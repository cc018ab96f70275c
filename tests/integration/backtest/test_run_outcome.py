"""A backtest run (or a sweep's run) always ends: never left "running" by a worker killed half-way or a
platform that stopped mid-run. Its heartbeat (written with each progress step) tells: a stale one is
shown failed with the reason when its pages are opened, and the task's redelivery runs it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape

import pytest

from bots import tasks
from bots.models import BacktestRun
from bots.services import backtest_runs

from .conftest import BARS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def new_run(owner, market) -> BacktestRun:
    return backtest_runs.create_run(owner, market=market, start=False, strategy="crossover",
                                    params={"fast": 10, "slow": 30}, capital=Decimal(1000))


def abandon(runs, minutes_ago: int) -> datetime:
    """What a worker killed half-way (or a platform stopped with Ctrl-C) leaves behind."""
    beat = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    BacktestRun.objects.filter(pk__in=[r.pk for r in runs]).update(
        status="running", progress=0.4, started_at=beat, heartbeat_at=beat)
    return beat


def test_an_abandoned_run_is_shown_failed_with_its_reason(alice, alice_client, market):
    stale, alive = new_run(alice, market), new_run(alice, market)
    beat = abandon([stale], minutes_ago=10)
    abandon([alive], minutes_ago=0)  # its worker wrote progress a moment ago
    reason = f"stopped without finishing: no progress since {beat:%Y-%m-%d %H:%M:%S} UTC"
    listing = alice_client.get("/backtests/").content.decode()
    stale.refresh_from_db()
    alive.refresh_from_db()
    assert stale.status == "failed" and stale.finished_at is not None and stale.error.startswith(reason)
    assert stale.error.endswith("run it again.") and escape(stale.error) in listing
    assert alive.status == "running" and alive.error == ""
    page = alice_client.get(f"/backtests/{stale.pk}/").content.decode()
    assert f"Failed: {escape(stale.error)}" in page
    assert alice_client.get(f"/backtests/{alive.pk}/snapshot.json").json()["status"] == "running"


def test_the_run_page_and_its_snapshot_find_an_abandoned_run_too(alice, alice_client, market):
    opened, polled = new_run(alice, market), new_run(alice, market)
    abandon([opened], minutes_ago=10)
    abandon([polled], minutes_ago=0)
    assert "Failed: stopped without finishing" in alice_client.get(f"/backtests/{opened.pk}/").content.decode()
    assert BacktestRun.objects.get(pk=polled.pk).status == "running"
    BacktestRun.objects.filter(pk=polled.pk).update(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
    snapshot = alice_client.get(f"/backtests/{polled.pk}/snapshot.json").json()
    assert snapshot["status"] == "failed" and snapshot["error"].startswith("stopped without finishing")


def test_a_redelivered_task_runs_an_abandoned_run_again_to_done(alice, market):
    stale, alive, fresh = new_run(alice, market), new_run(alice, market), new_run(alice, market)
    beat = abandon([stale], minutes_ago=10)
    abandon([alive], minutes_ago=0)
    # Celery redelivers a task whose worker was lost (acks_late): it takes the stale run over.
    assert tasks.run_backtest.delay(stale.pk).get() == "done"
    assert tasks.run_backtest.delay(alive.pk).get() == "running"  # its worker is still at it
    assert tasks.run_backtest.delay(fresh.pk).get() == "done"
    stale.refresh_from_db()
    alive.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "done" and stale.progress == 1.0 and stale.error == "" and stale.started_at > beat
    assert stale.summary == fresh.summary and stale.result["trades"] == fresh.result["trades"]
    assert alive.status == "running" and alive.progress == 0.4
    # The progress steps wrote the heartbeat after the one written when the run was taken.
    assert stale.heartbeat_at > stale.started_at and fresh.heartbeat_at > fresh.started_at


def sweep_of_four(alice, market):
    return backtest_runs.create_sweep(alice, start=False, market=market, strategy="crossover",
                                      ranges={"fast_period": [5, 10], "slow_period": [20, 30]},
                                      since=T0, until=None, capital=Decimal(1000))


def test_a_sweeps_abandoned_runs_are_shown_failed_and_the_sweep_ends(alice, alice_client, market):
    sweep, [chunk] = sweep_of_four(alice, market)
    runs = list(BacktestRun.objects.filter(pk__in=chunk).order_by("pk"))
    abandon(runs[:2], minutes_ago=10)
    abandon(runs[2:3], minutes_ago=0)
    BacktestRun.objects.filter(pk=runs[3].pk).update(status="done")
    page = alice_client.get(f"/backtests/sweeps/{sweep.pk}/").content.decode()
    assert [r.status for r in BacktestRun.objects.filter(pk__in=chunk).order_by("pk")] == [
        "failed", "failed", "running", "done"]
    assert "stopped without finishing" in page
    sweep.refresh_from_db()
    assert sweep.status == "running"  # one run is still going
    BacktestRun.objects.filter(pk=runs[2].pk).update(heartbeat_at=datetime.now(UTC) - timedelta(minutes=4))
    snapshot = alice_client.get(f"/backtests/sweeps/{sweep.pk}/snapshot.json").json()
    assert snapshot["status"] == "done" and sorted(r["status"] for r in snapshot["rows"]) == [
        "done", "failed", "failed", "failed"]


def test_a_redelivered_sweep_chunk_takes_over_its_abandoned_runs(alice, market):
    sweep, [chunk] = sweep_of_four(alice, market)
    runs = list(BacktestRun.objects.filter(pk__in=chunk).order_by("pk"))
    abandon(runs[:3], minutes_ago=10)
    abandon(runs[3:], minutes_ago=0)
    assert tasks.run_sweep_chunk.delay(chunk).get() == 3
    after = list(BacktestRun.objects.filter(pk__in=chunk).order_by("pk"))
    assert [r.status for r in after] == ["done", "done", "done", "running"]
    assert all(r.summary["bars"] == BARS and r.error == "" for r in after[:3])
    # The chunk's pass wrote the heartbeat after the one written when its runs were taken.
    assert all(r.heartbeat_at > r.started_at for r in after[:3])
    sweep.refresh_from_db()
    assert sweep.status == "running"  # the fourth run's worker is still at it


def test_the_admins_run_list_finds_an_abandoned_run_too(admin_client, alice, market):
    stale = new_run(alice, market)
    abandon([stale], minutes_ago=10)
    assert admin_client.get("/admin/bots/backtestrun/").status_code == 200
    stale.refresh_from_db()
    assert stale.status == "failed" and stale.error.startswith("stopped without finishing")
