"""End to end on the simulator: scripted prices -> feed -> engine -> paper broker -> database."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Bot, BotEvent, Fill, Order, Position

from .conftest import path, read, stop_host, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
D = Decimal
CROSS_UP = ["60000", "59900", "59800", "59700", "60100"]  # fast(2) crosses above slow(3) at 60100
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}


def running(make_bot, owner, **fields):
    fields.setdefault("params", TICK)
    fields.setdefault("capital", D("10000"))
    return make_bot(owner, status="running", **fields)


def filled(bot_id, side):
    return Order.objects.filter(bot_id=bot_id, side=side, status="filled").first()


async def test_a_crossover_opens_a_position_at_the_ask_of_the_crossing_tick(sim, make_host, make_bot, alice):
    bot = await read(running, make_bot, alice, order_size=D("1000"))
    await make_host()
    await path(sim, "binance", "BTC/USDT", CROSS_UP[:-1])
    await sim.set_price("binance", "BTC/USDT", CROSS_UP[-1])
    _, ask = sim.best_bid_ask("binance", "BTC/USDT")
    order = await until(lambda: filled(bot.id, "buy"))
    fill = await read(Fill.objects.get, order=order)
    assert fill.price == ask
    assert order.quantity == (D(1000) / ask).quantize(D("0.00001"), rounding="ROUND_DOWN")
    assert order.average_fill_price == ask and order.client_order_id.startswith(f"bp{bot.id}-")
    position = await until(lambda: Position.objects.filter(bot_id=bot.id, closed_at__isnull=True).first())
    assert position.quantity == order.quantity and position.average_entry == ask
    statuses = await read(lambda: list(order.events.values_list("status", flat=True)))
    assert statuses[0] == "pending_submit" and statuses[-1] == "filled"


@pytest.mark.parametrize("risk,prices,reason", [
    ({"stop_loss_pct": D("1")}, ["59400"], "stop-loss"),  # stop at 60100.01 * 0.99 = 59499.0099
    ({"take_profit_pct": D("1")}, ["60500", "60800"], "take-profit"),  # target 60701.01
    ({"trailing_stop_pct": D("1")}, ["61000", "62000", "61500", "61370"], "trailing stop"),  # 62000*0.99=61380
])
async def test_exits_close_the_position_at_the_bid_of_the_triggering_tick(
        sim, make_host, make_bot, alice, risk, prices, reason):
    # One DCA buy and no strategy exit: only the exit rule under test can close the position.
    bot = await read(running, make_bot, alice, order_size=D("1000"), strategy="dca",
                     params={"amount": "1000", "interval_seconds": 3600, "max_buys": 1}, **risk)
    await make_host()
    await path(sim, "binance", "BTC/USDT", ["60100"])
    await until(lambda: filled(bot.id, "buy"))
    await path(sim, "binance", "BTC/USDT", prices[:-1])
    await sim.set_price("binance", "BTC/USDT", prices[-1])
    bid, _ = sim.best_bid_ask("binance", "BTC/USDT")
    sell = await until(lambda: filled(bot.id, "sell"))
    fill = await read(Fill.objects.get, order=sell)
    assert fill.price == bid
    assert sell.reason == reason.replace("-", "_").replace(" ", "_")
    position = await until(lambda: Position.objects.filter(bot_id=bot.id, closed_at__isnull=False).first())
    assert position.quantity == 0
    sells = await read(Order.objects.filter(bot_id=bot.id, side="sell").count)
    assert sells == 1
    signals = await read(lambda: list(BotEvent.objects.filter(bot_id=bot.id, kind="signal", data__side="sell")))
    assert [e.data["reason"].split(" at ")[0] for e in signals] == [reason]


async def test_the_daily_loss_limit_pauses_the_bot_with_its_reason(sim, make_host, make_bot, alice):
    bot = await read(running, make_bot, alice, order_size=D("1000"), max_daily_loss=D("10"))
    await make_host()
    await path(sim, "binance", "BTC/USDT", CROSS_UP)
    await until(lambda: filled(bot.id, "buy"))
    await path(sim, "binance", "BTC/USDT", ["59500"])  # ~ -10 USDT unrealised on 0.0166 BTC
    row = await until(lambda: Bot.objects.filter(pk=bot.id, status="paused").first())
    assert row.status_reason == "Daily loss limit reached"
    assert await read(BotEvent.objects.filter(bot_id=bot.id, kind="status",
                                                       data__status="paused").exists)


async def test_two_bots_on_the_same_symbol_on_two_exchanges_see_only_their_own_ticks(
        sim, make_host, make_bot, alice):
    on_coinbase = await read(running, make_bot, alice, exchange="coinbase", symbol="BTC/USD")
    on_kraken = await read(running, make_bot, alice, exchange="kraken", symbol="BTC/USD")
    host = await make_host()
    await path(sim, "kraken", "BTC/USD", ["50000"], pause=0.3)
    await path(sim, "coinbase", "BTC/USD", ["61000.5"], pause=0)
    cb, kr = host.engine.bots[on_coinbase.id], host.engine.bots[on_kraken.id]
    await until(lambda: cb.ctx.price is not None and cb.ctx.price > 60000)
    assert kr.ctx.price is not None and kr.ctx.price < 50100
    await path(sim, "kraken", "BTC/USD", ["50100"], pause=0.3)
    assert cb.ctx.price > 60000


async def test_stopping_one_of_two_bots_on_a_symbol_keeps_the_others_feed(sim, make_host, make_bot, alice):
    first = await read(running, make_bot, alice)
    second = await read(running, make_bot, alice, name="second")
    host = await make_host()
    await path(sim, "binance", "BTC/USDT", ["60000"], pause=0.3)
    await host.control({"action": "stop", "bot_id": first.id})
    assert first.id not in host.engine.bots
    await path(sim, "binance", "BTC/USDT", ["60555"])
    other = host.engine.bots[second.id]
    await until(lambda: other.ctx.price is not None and abs(other.ctx.price - D("60555")) < 1)
    assert sim.connection_count("binance") >= 1
    await until(lambda: Bot.objects.get(pk=first.id).status == "stopped")


async def test_a_strategy_that_raises_puts_only_its_bot_in_error(sim, make_host, make_bot, alice):
    bad = await read(running, make_bot, alice)
    good = await read(running, make_bot, alice, name="good")
    host = await make_host()

    def explode(ctx):
        raise RuntimeError("strategy bug")

    host.engine.bots[bad.id].strategy.on_tick = explode
    await path(sim, "binance", "BTC/USDT", ["60000", "60010"])
    row = await until(lambda: Bot.objects.filter(pk=bad.id, status="error").first())
    assert row.status_reason == "RuntimeError: strategy bug"
    survivor = host.engine.bots[good.id]
    await path(sim, "binance", "BTC/USDT", ["60020"])
    await until(lambda: survivor.ctx.price is not None and abs(survivor.ctx.price - D("60020")) < 1)
    assert (await read(Bot.objects.get, pk=good.id)).status == "running"


async def test_heartbeats_are_written_for_hosted_bots(sim, make_host, make_bot, alice):
    bot = await read(running, make_bot, alice)
    host = await make_host()
    await until(lambda: Bot.objects.get(pk=bot.id).heartbeat_at is not None)
    await stop_host(host)
