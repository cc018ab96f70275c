"""A live bot's position is protected by one stop order resting on the venue: placed after the entry
fills, moved (cancel-replace, never two) when the trailing stop rises, cancelled before the engine's
own exit so nothing is sold twice, and still there when the engine is gone: the venue's stop closes
the position and reconciliation records its fill. On Binance, Coinbase and Kraken in the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.engine.config import EngineConfig, ProtectConfig
from bots.engine.types import PROTECTIVE_STOP
from bots.engine_host import EngineHost, simulator_venues
from bots.models import Bot, Order, Position
from bots.services.reconcile import reconcile_orders
from marketdata.exchanges.kraken.trading import venue_client_id  # Kraken carries a long id as its UUID-5

from .conftest import path, read, stop_host, until
from .test_three_venues import VENUES, keys

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]
D = Decimal
CROSS_UP = ["60000", "59900", "59800", "59700", "60100"]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
# Kraken's client spends its REST budget (15 points, 0.33 a second) on the start and the entry: its
# calls may wait several seconds in ccxt's throttle.
CONFIG = EngineConfig(price_interval=0.1, heartbeat_interval=0.2, submit_timeout=30.0, reconcile_interval=0.5,
                      warmup_timeout=2.0, protect=ProtectConfig(min_move_seconds=0.3, timeout=30.0))


@pytest.fixture
async def host_on(sim):
    hosts: list[EngineHost] = []

    async def make() -> EngineHost:
        host = EngineHost(simulator_venues(sim.urls), config=CONFIG, slippage_bps=D(0), poll_interval=0.1)
        hosts.append(host)
        await host.start()
        return host

    yield make
    for host in hosts:
        if not getattr(host, "_stopped", False):
            await host.stop()


def live_bot(make_bot, owner, sim, code, venue, symbol, quote, **risk):
    from bots.models import ExchangeAccount
    from marketdata.models import Exchange

    key, secret = keys(venue)
    getattr(sim, venue).add_account(key, secret, {quote: "50000", "BTC": "0"})
    Exchange.objects.filter(code=code).update(rest_url=sim.urls[venue].rest)  # reconciliation and the guardian
    account = ExchangeAccount.objects.create(owner=owner, exchange=Exchange.objects.get(code=code),
                                             label=f"sim {venue}", api_key=key, api_secret=secret)
    bot = make_bot(owner, exchange=code, symbol=symbol, name=f"live {venue}", mode="live", live_confirmed=True,
                   account=account, status="running", params=TICK, capital=D("10000"), order_size=D("1000"),
                   **risk)
    return bot, key


def venue_stops(sim, venue: str, key: str) -> list:
    """The account's open stop orders on the simulated venue."""
    return [o for o in getattr(sim, venue).trading.accounts[key].orders.values() if o.stop_price and o.is_open]


def venue_sells(sim, venue: str, key: str) -> Decimal:
    return sum((o.executed_qty for o in getattr(sim, venue).trading.accounts[key].orders.values()
                if o.side == "SELL"), D(0))


def held(position: Position, venue: str) -> Decimal:
    """What of a position can be sold: whole quantity steps (Binance kept its buy fee in BTC)."""
    step = D("0.00001") if venue == "binance" else D("0.00000001")
    return (position.quantity / step).to_integral_value(rounding="ROUND_DOWN") * step


def open_position(bot_id: int) -> Position | None:
    return Position.objects.filter(bot_id=bot_id, closed_at__isnull=True).first()


def protective_rows(bot_id: int, *statuses: str) -> list[Order]:
    rows = Order.objects.filter(bot_id=bot_id, reason=PROTECTIVE_STOP)
    return list(rows.filter(status__in=statuses) if statuses else rows)


async def opened(sim, host_on, make_bot, alice, code, venue, symbol, quote, **risk):
    bot, key = await read(live_bot, make_bot, alice, sim, code, venue, symbol, quote, **risk)
    host = await host_on()
    await path(sim, venue, symbol, CROSS_UP)
    await until(lambda: open_position(bot.id), timeout=20)
    return bot, key, host


@pytest.mark.parametrize(("code", "venue", "symbol", "quote"), VENUES, ids=[v[1] for v in VENUES])
async def test_a_stop_rests_on_the_venue_follows_the_trailing_stop_and_fires_with_the_engine_down(
        sim, host_on, make_bot, alice, code, venue, symbol, quote):
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote,
                                  stop_loss_pct=D("2"), trailing_stop_pct=D("1"))
    [stop] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    position = await read(open_position, bot.id)
    tick = D("0.1") if venue == "kraken" else D("0.01")
    assert stop.side == "SELL" and stop.orig_qty == held(position, venue)
    trail = position.highest_price * D("0.99")
    assert stop.stop_price == (trail / tick).to_integral_value(rounding="ROUND_DOWN") * tick
    [row] = await until(lambda: protective_rows(bot.id, "open"), timeout=40)  # the store's queued write
    assert (row.stop_price, row.price) == (stop.stop_price, stop.price)
    assert stop.client_order_id == (venue_client_id(row.client_order_id) if venue == "kraken" else row.client_order_id)

    await path(sim, venue, symbol, ["60500", "61000"])  # the trailing stop rises: 61000 * 0.99
    moved = await until(lambda: [s for s in venue_stops(sim, venue, key) if s.stop_price == D("60390")], timeout=40)
    assert len(moved) == 1 and venue_stops(sim, venue, key) == moved  # exactly one stop, at the new price
    await until(lambda: [r.stop_price for r in protective_rows(bot.id, "open")] == [D("60390")], timeout=40)

    await stop_host(host)  # the engine is gone; the position stays protected on the venue
    await sim.set_price(venue, symbol, "60300")  # below the stop: the venue's stop fires
    assert venue_stops(sim, venue, key) == [] and venue_sells(sim, venue, key) == held(position, venue)
    report = await read(reconcile_orders, bot_ids=[bot.id])
    assert report.fills >= 1
    assert await read(open_position, bot.id) is None  # reconciliation closed it from the stop's fill
    [filled] = await read(protective_rows, bot.id, "filled")
    assert filled.filled_quantity == held(position, venue)
    assert (await read(Bot.objects.get, pk=bot.id)).status == "running"


@pytest.mark.parametrize(("code", "venue", "symbol", "quote"), VENUES, ids=[v[1] for v in VENUES])
async def test_the_engines_own_exit_cancels_the_stop_first_and_sells_once(
        sim, host_on, make_bot, alice, code, venue, symbol, quote):
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote,
                                  stop_loss_pct=D("2"), take_profit_pct=D("1"))
    await until(lambda: venue_stops(sim, venue, key), timeout=40)
    position = await read(open_position, bot.id)
    await path(sim, venue, symbol, ["61500"])  # take-profit: the engine sells, after cancelling its stop
    await until(lambda: not open_position(bot.id), timeout=40)
    assert venue_stops(sim, venue, key) == []
    assert venue_sells(sim, venue, key) == held(position, venue)  # sold once, by the engine
    [cancelled] = await read(protective_rows, bot.id, "canceled")
    assert cancelled.filled_quantity == 0
    exits = await read(lambda: list(Order.objects.filter(bot_id=bot.id, side="sell", status="filled")))
    assert [o.reason for o in exits] == ["take_profit"]


@pytest.mark.parametrize(("code", "venue", "symbol", "quote"), VENUES, ids=[v[1] for v in VENUES])
async def test_when_the_venues_stop_fires_first_the_engines_exit_is_not_sent(
        sim, host_on, make_bot, alice, code, venue, symbol, quote):
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote, stop_loss_pct=D("2"))
    [stop] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    position = await read(open_position, bot.id)
    # One price under both: the venue's stop fires as the price prints, the engine's stop-loss on the tick.
    await path(sim, venue, symbol, [str(stop.stop_price - 50)])
    await until(lambda: not open_position(bot.id), timeout=40)
    assert venue_sells(sim, venue, key) == held(position, venue)  # the stop's sell only: never twice
    [filled] = await read(protective_rows, bot.id, "filled")
    assert filled.filled_quantity == held(position, venue)
    assert await read(lambda: Order.objects.filter(bot_id=bot.id, side="sell").exclude(
        reason=PROTECTIVE_STOP).filter(status="filled").count()) == 0
    await path(sim, venue, symbol, ["60000"])
    assert venue_stops(sim, venue, key) == []  # nothing re-placed for a closed position


@pytest.mark.parametrize(("code", "venue", "symbol", "quote"), VENUES, ids=[v[1] for v in VENUES])
async def test_an_engine_restarted_after_its_stop_fired_records_the_fill_and_sells_nothing(
        sim, host_on, make_bot, alice, code, venue, symbol, quote):
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote, stop_loss_pct=D("2"))
    [stop] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    await until(lambda: protective_rows(bot.id, "open"), timeout=40)
    position = await read(open_position, bot.id)
    await stop_host(host)
    await sim.set_price(venue, symbol, str(stop.stop_price - 100))  # fires while nobody watches
    assert venue_sells(sim, venue, key) == held(position, venue)

    await host_on()  # the engine comes back with the position still open in its rows
    await path(sim, venue, symbol, [str(stop.stop_price - 110)])  # its own stop-loss: cancel first, sell nothing
    await until(lambda: not open_position(bot.id), timeout=40)
    assert venue_sells(sim, venue, key) == held(position, venue)  # the stop's sell, once
    [filled] = await read(protective_rows, bot.id, "filled")
    assert filled.filled_quantity == held(position, venue)
    assert await read(lambda: Order.objects.filter(bot_id=bot.id, side="sell", status="filled").count()) == 1
