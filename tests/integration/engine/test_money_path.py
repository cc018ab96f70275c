"""The money path loses nothing: paper fills across engine restarts, and fills keyed per market."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bots.engine import types as core
from bots.engine.strategies import Signal
from bots.models import Fill, Order
from bots.services.orders import record_fill

from .conftest import path, read, stop_host, until

D = Decimal


@pytest.mark.django_db
def test_two_symbols_with_the_same_venue_trade_id_are_two_fills_each_stored_once(make_bot, alice):
    btc = make_bot(alice, symbol="BTC/USDT", name="btc")
    eth = make_bot(alice, symbol="ETH/USDT", name="eth")
    rows = [Order.objects.create(bot=bot, side="buy", quantity=D("1"), client_order_id=f"bp-{bot.name}")
            for bot in (btc, eth)]
    now = datetime.now(UTC)
    for row in rows:  # Binance numbers each symbol's trades from 1: both are trade "7"
        fill = core.Fill(row.client_order_id, "7", "buy", D("10"), D("1"), D("0"), "USDT", now)
        assert record_fill(row.client_order_id, fill, btc.exchange_id) is True
        assert record_fill(row.client_order_id, fill, btc.exchange_id) is False  # the same fill again
    assert sorted(Fill.objects.values_list("market__symbol", "trade_id")) == [("BTC/USDT", "7"), ("ETH/USDT", "7")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_paper_fills_are_all_stored_across_an_engine_restart(sim, make_host, make_bot, alice):
    bot = await read(make_bot, alice, status="running", capital=D("10000"), order_size=D("100"),
                     params={"fast_period": 50, "slow_period": 100, "timeframe": "tick"})
    await sim.set_price("binance", "BTC/USDT", "60000")

    async def trade_once(host, n):
        await until(lambda: host.engine.bots.get(bot.id) is not None)
        runner = host.engine.bots[bot.id]
        await path(sim, "binance", "BTC/USDT", ["60000", "60010"])
        await until(lambda: runner.ctx.now is not None and runner.ctx.ask is not None)
        runner.signal(Signal("buy", "by hand", amount=D("100")))
        await until(lambda: Order.objects.filter(bot_id=bot.id, status="filled").count() == n)

    first = await make_host()
    await trade_once(first, 1)
    await stop_host(first)
    second = await make_host()  # a new process: the paper broker starts afresh
    await trade_once(second, 2)

    filled = await read(lambda: list(Order.objects.filter(bot_id=bot.id, status="filled")))
    fills = await read(lambda: list(Fill.objects.filter(order__bot_id=bot.id)))
    assert len(filled) == 2 and len(fills) == 2  # the second paper fill was not swallowed as a duplicate
    assert {f.trade_id for f in fills} == {f"pt-{o.client_order_id}" for o in filled}


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
async def test_reconciliation_recording_a_fill_the_engine_missed_wins_over_the_engines_stale_snapshot(
        sim, make_bot, alice, settings):
    from asgiref.sync import sync_to_async

    from bots.engine_host import EngineHost, simulator_venues
    from bots.models import ExchangeAccount, Position
    from bots.services.reconcile import reconcile_orders
    from marketdata.models import Exchange

    from .conftest import FAST

    settings.RECONCILE_RATE_LIMIT_MS = 1
    sim.binance.add_account("race-key", "race-secret", {"USDT": "50000", "BTC": "0"})

    def live_bot():
        Exchange.objects.filter(code="simulator").update(rest_url=sim.urls["binance"].rest)
        account = ExchangeAccount.objects.create(owner=alice, exchange=Exchange.objects.get(code="simulator"),
                                                 label="race", api_key="race-key", api_secret="race-secret")
        return make_bot(alice, status="running", mode="live", live_confirmed=True, account=account,
                        params={"fast_period": 50, "slow_period": 100, "timeframe": "tick"}, capital=D("10000"))

    bot = await read(live_bot)
    slow = dataclasses.replace(FAST, reconcile_interval=3600.0)
    host = EngineHost(simulator_venues(sim.urls), config=slow, slippage_bps=D(0), poll_interval=3600)
    await host.start()
    listener = asyncio.create_task(host.listen())
    try:
        runner = host.engine.bots[bot.id]
        await path(sim, "binance", "BTC/USDT", ["60000", "60010"])
        await until(lambda: runner.ctx.now is not None and runner.ctx.ask is not None)
        runner.signal(Signal("buy", "resting", type="limit", price=D("59000"), amount=D("590")))
        order = await until(lambda: Order.objects.filter(bot_id=bot.id, status="open").first())
        stale = runner.position.to_dict()  # the engine's view: no fill yet
        await sim.set_price("binance", "BTC/USDT", "58900")  # fills on the venue; the engine does not poll

        report = await sync_to_async(reconcile_orders)()
        assert report.fills == 1
        reconciled = await read(lambda: Position.objects.get(bot_id=bot.id, closed_at__isnull=True).quantity)
        assert reconciled > 0

        host.store.save_position(bot.id, stale)  # the engine's snapshot lands after reconciliation's write
        await until(lambda: runner.position.quantity == reconciled)  # the resync message reloaded the bot
        await host.store.arun(lambda: None)  # the stale write has been processed
        assert await read(lambda: Position.objects.get(bot_id=bot.id, closed_at__isnull=True).quantity) == reconciled
        assert order.client_order_id not in runner.orders  # filled: no longer open in the engine
        host.store.save_position(bot.id, runner.position.to_dict())  # an up-to-date snapshot is written
        await host.store.arun(lambda: None)
        assert await read(lambda: Position.objects.filter(bot_id=bot.id, closed_at__isnull=True).count()) == 1
    finally:
        listener.cancel()
        await host.stop()
