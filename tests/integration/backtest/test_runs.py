"""Backtest runs and sweeps through their Celery tasks (eager here; real workers in the benchmark):
progress and results pushed to the owner's group, results stored, out-of-sample beside in-sample,
and a paper bot started from a run's settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from bots import events, tasks
from bots.backtest import BacktestConfig, run_backtest, synthetic
from bots.models import BacktestRun, BacktestSweep, Bot
from bots.services import backtest_runs
from bots.services.backtests import result_json

from .conftest import BARS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def listen(user):
    """A channel in the user's group; returns a function that takes what has arrived."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(user.pk), channel)

    async def take() -> list[dict]:
        out = []
        while True:  # everything already sent arrives within the wait (in-memory or Redis layer)
            try:
                out.append(await asyncio.wait_for(layer.receive(channel), 0.5))
            except TimeoutError:
                return out

    def drain() -> list[dict]:
        return async_to_sync(take)()

    return drain


def test_a_run_reports_progress_live_and_stores_what_the_replay_computes(alice, bob, market, monkeypatch):
    monkeypatch.setattr(backtest_runs, "PROGRESS_SECONDS", 0.0)
    alices, bobs = listen(alice), listen(bob)
    run = backtest_runs.create_run(alice, market=market, start=False, strategy="crossover",
                                   params={"fast": 10, "slow": 30},
                                   capital=Decimal(5000), risk={"order_size": Decimal(1000),
                                                                "stop_loss_pct": Decimal("0.3")})
    tasks.run_backtest.delay(run.pk)
    run.refresh_from_db()
    assert run.status == "done" and run.progress == 1.0 and run.error == ""
    pushes = [p for p in alices() if p["type"] == "bot.backtest"]
    assert [p["status"] for p in pushes][0] == "running" and pushes[-1]["status"] == "done"
    progress = [p["progress"] for p in pushes if p["status"] == "running"][1:]
    assert progress == [round(5000 / BARS, 4), round(10_000 / BARS, 4)]
    assert pushes[-1]["summary"]["final_equity"] == run.summary["final_equity"]
    assert bobs() == []  # bob hears nothing of alice's run
    expected = result_json(run_backtest(BacktestConfig(
        "crossover", {"fast_period": 10, "slow_period": 30, "timeframe": "1m"}, capital=Decimal(5000),
        risk=backtest_runs.request_for(run, run.params, None, None).config().risk), synthetic(BARS, seed=9)))
    assert run.summary == expected["summary"] and run.result["trades"] == expected["trades"]
    assert len(run.result["equity"]) > 100 and len(run.result["prices"]) > 100
    # Idempotent: a second delivery of the task finds the run done and changes nothing.
    assert tasks.run_backtest.delay(run.pk).get() == "done"


def test_a_sweep_runs_every_valid_parameter_set_in_and_out_of_sample(alice, market):
    since, split = T0, T0 + timedelta(minutes=8000)
    sweep, chunks = backtest_runs.create_sweep(
        alice, start=False, market=market, strategy="crossover",
        ranges={"fast_period": [5, 10, 40], "slow_period": [20, 30]},
        since=since, until=split, oos_since=split, oos_until=None, capital=Decimal(1000))
    assert sweep.total == 4  # 40/20 and 40/30 are not crossovers
    for chunk in chunks:
        tasks.run_sweep_chunk.delay(chunk)
    sweep.refresh_from_db()
    assert sweep.status == "done"
    runs = list(sweep.runs.order_by("pk"))
    assert all(r.status == "done" and r.summary["bars"] == 8000 and r.oos_summary["bars"] == 4000 for r in runs)
    alone = run_backtest(BacktestConfig("crossover", {"fast_period": 10, "slow_period": 30, "timeframe": "1m"}),
                         synthetic(8000, seed=9))
    [ten_thirty] = [r for r in runs if r.params == {"fast_period": 10, "slow_period": 30}]
    assert ten_thirty.summary == result_json(alone)["summary"]
    assert BacktestRun.objects.for_user(alice).count() == 4 and BacktestSweep.objects.for_user(alice).count() == 1


def test_a_run_that_cannot_replay_fails_with_its_reason(alice, market):
    run = backtest_runs.create_run(alice, market=market, start=False, strategy="crossover",
                                   params={"fast": 5, "slow": 20, "timeframe": "1m"}, timeframe="15m")
    tasks.run_backtest.delay(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "a 1m strategy cannot run on 15m bars" in run.error


def test_a_paper_bot_is_created_with_the_runs_settings(alice, market):
    run = backtest_runs.create_run(alice, market=market, start=False, strategy="crossover",
                                   params={"fast": 7, "slow": 25},
                                   capital=Decimal(2000), risk={"order_size": Decimal(500),
                                                                "take_profit_pct": Decimal(2)})
    bot = backtest_runs.create_bot_from_run(run)
    bot = Bot.objects.get(pk=bot.pk)
    assert (bot.owner, bot.mode, bot.status, bot.market, bot.strategy) == (alice, "paper", "stopped", market,
                                                                           "crossover")
    assert bot.params["fast_period"] == 7 and bot.params["slow_period"] == 25
    assert (bot.capital, bot.order_size, bot.take_profit_pct) == (Decimal(2000), Decimal(500), Decimal(2))
