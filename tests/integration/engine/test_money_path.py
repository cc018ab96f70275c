"""The money path loses nothing: paper fills across engine restarts, and fills keyed per market."""

from __future__ import annotations

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
