"""Restarting the engine resumes bots, positions and open orders; live mode trades through ccxt."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.engine.strategies import Signal
from bots.models import Bot, ExchangeAccount, Fill, Order, Position

from .conftest import path, read, stop_host, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
D = Decimal
CROSS_UP = ["60000", "59900", "59800", "59700", "60100"]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}


def running(make_bot, owner, **fields):
    fields.setdefault("params", TICK)
    fields.setdefault("capital", D("10000"))
    return make_bot(owner, status="running", order_size=D("1000"), **fields)


def order_in(bot_id, status, side=None):
    qs = Order.objects.filter(bot_id=bot_id, status=status)
    return (qs.filter(side=side) if side else qs).first()


async def test_restarting_the_engine_resumes_bots_positions_and_open_orders(sim, make_host, make_bot, alice):
    bot = await read(running, make_bot, alice)
    host = await make_host()
    await path(sim, "binance", "BTC/USDT", CROSS_UP)
    entry = await until(lambda: order_in(bot.id, "filled", "buy"))
    runner = host.engine.bots[bot.id]
    runner.signal(Signal("sell", "take profit by hand", type="limit", price=D("65000"), purpose="exit"))
    resting = await until(lambda: order_in(bot.id, "open", "sell"))
    await stop_host(host)

    again = await make_host()
    resumed = again.engine.bots[bot.id]
    assert resumed.status == "running"
    assert resumed.position.quantity == entry.quantity
    assert resumed.position.average_entry == entry.average_fill_price
    assert list(resumed.orders) == [resting.client_order_id]
    assert resumed.position.exit_order_id == resting.client_order_id  # no second exit while it rests
    await path(sim, "binance", "BTC/USDT", ["64000", "65100"])
    sold = await until(lambda: order_in(bot.id, "filled", "sell"))
    assert sold.client_order_id == resting.client_order_id
    fill = await read(Fill.objects.get, order=sold)
    assert fill.price == D("65000") and fill.is_maker
    position = await until(lambda: Position.objects.filter(bot_id=bot.id, closed_at__isnull=False).first())
    assert position.quantity == 0 and position.realized_pnl > 0


async def test_a_paused_bot_is_resumed_paused(sim, make_host, make_bot, alice):
    bot = await read(running, make_bot, alice)
    await read(Bot.objects.filter(pk=bot.id).update, status="paused")
    host = await make_host()
    assert host.engine.bots[bot.id].status == "paused"
    await path(sim, "binance", "BTC/USDT", CROSS_UP)
    assert await read(Order.objects.filter(bot_id=bot.id).count) == 0


async def test_bots_the_watchdog_stopped_while_the_engine_was_down_are_resumed(sim, make_host, make_bot, alice):
    bot = await read(running, make_bot, alice)
    await read(Bot.objects.filter(pk=bot.id).update, status="error",
               status_reason="No heartbeat from the engine for 120 s")
    broken = await read(running, make_bot, alice, name="broken")
    await read(Bot.objects.filter(pk=broken.id).update, status="error", status_reason="RuntimeError: bug")
    host = await make_host()
    assert bot.id in host.engine.bots and broken.id not in host.engine.bots
    await until(lambda: Bot.objects.get(pk=bot.id).status == "running")


def live_bot(make_bot, owner, sim):
    from marketdata.models import Exchange

    exchange = Exchange.objects.get(code="simulator")
    account = ExchangeAccount.objects.create(owner=owner, exchange=exchange, label="sim", api_key="live-key",
                                             api_secret="live-secret")
    sim.binance.trading.add_account("live-key", "live-secret", {"USDT": "50000", "BTC": "0"})
    return running(make_bot, owner, mode="live", live_confirmed=True, account=account)


async def test_live_mode_places_fills_and_cancels_orders_through_ccxt(sim, make_host, make_bot, alice):
    bot = await read(live_bot, make_bot, alice, sim)
    host = await make_host()
    await path(sim, "binance", "BTC/USDT", CROSS_UP[:-1])
    await sim.set_price("binance", "BTC/USDT", CROSS_UP[-1])
    _, ask = sim.best_bid_ask("binance", "BTC/USDT")
    bought = await until(lambda: order_in(bot.id, "filled", "buy"))
    venue = {o.client_order_id: o for o in sim.binance.trading.orders.values()}
    assert venue[bought.client_order_id].status == "FILLED"
    assert bought.exchange_order_id == str(venue[bought.client_order_id].order_id)
    assert not bought.is_paper
    fill = await read(Fill.objects.get, order=bought)
    assert fill.price == ask and fill.trade_id.isdigit()

    runner = host.engine.bots[bot.id]
    runner.signal(Signal("buy", "ladder", type="limit", price=D("50000"), amount=D("500")))
    resting = await until(lambda: order_in(bot.id, "open", "buy"))
    assert venue_order(sim, resting.client_order_id).status == "NEW"
    await host.control({"action": "stop", "bot_id": bot.id})
    canceled = await until(lambda: order_in(bot.id, "canceled"))
    assert canceled.client_order_id == resting.client_order_id
    assert venue_order(sim, resting.client_order_id).status == "CANCELED"
    assert (await read(Bot.objects.get, pk=bot.id)).status == "stopped"


def venue_order(sim, client_order_id):
    return next(o for o in sim.binance.trading.orders.values() if o.client_order_id == client_order_id)


async def test_a_live_order_whose_answer_is_lost_is_reconciled_by_client_order_id(sim, make_host, make_bot, alice):
    bot = await read(live_bot, make_bot, alice, sim)
    sim.binance.order_faults.drop_count = 1  # accepted by the venue, answer never arrives
    host = await make_host()
    await path(sim, "binance", "BTC/USDT", CROSS_UP)
    order = await until(lambda: order_in(bot.id, "filled", "buy"), timeout=15)
    assert venue_order(sim, order.client_order_id).status == "FILLED"
    assert await read(Order.objects.filter(bot_id=bot.id).count) == 1  # never sent twice
    events = await read(lambda: list(order.events.values_list("status", flat=True)))
    assert "unknown" in events
    fill = await read(Fill.objects.get, order=order)
    assert fill.fee_asset == "BTC"  # the venue keeps its fee out of the base received
    assert host.engine.bots[bot.id].position.quantity == order.quantity - fill.fee
