"""Live mode through ccxt against the simulator's signed Binance REST API."""

import asyncio
from decimal import Decimal

import pytest

from bots.engine.brokers.live import LiveAccount, LiveBroker
from bots.engine.ports import SystemClock
from bots.engine.types import Order, OrderUpdate
from marketdata.exchanges.base import Credentials
from marketdata.feeds.types import Instrument
from marketdata.simulator.server import Simulator

D = Decimal
INST = Instrument("binance", "BTC/USDT")
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def sim():
    s = Simulator(seed=3)
    await s.start()
    s.pause()
    s.binance.trading.add_account("key-1", "secret-1", {"USDT": "100000", "BTC": "0"})
    yield s
    await s.stop()


@pytest.fixture
async def broker(sim):
    account = LiveAccount("binance", Credentials("key-1", "secret-1"), sim.urls["binance"].rest)
    b = LiveBroker(account, SystemClock(), poll_interval=0.05)
    updates: list[OrderUpdate] = []
    b.updates = updates
    b.handlers[1] = updates.append
    yield b
    await b.close()


def order(coid, side, qty, type_="market", price=None):
    from bots.engine.ports import SystemClock as C

    return Order(coid, 1, INST, side, type_, D(qty), D(price) if price else None, C().now())


async def test_a_market_order_is_placed_with_our_client_order_id_and_fills_at_the_ask(sim, broker):
    await sim.set_price("binance", "BTC/USDT", "60000")
    bid, ask = sim.best_bid_ask("binance", "BTC/USDT")
    u = await broker.submit(order("bp1-mkt1", "buy", "0.01"))
    assert u.status == "filled" and u.exchange_order_id
    assert sum(f.quantity for f in u.fills) == D("0.01")
    assert u.fills[0].price == ask and u.fills[0].fee > 0
    venue_order = next(iter(sim.binance.trading.orders.values()))
    assert venue_order.client_order_id == "bp1-mkt1"


async def test_a_resting_limit_is_polled_until_it_fills(sim, broker):
    await sim.set_price("binance", "BTC/USDT", "60000")
    o = order("bp1-lim1", "buy", "0.01", "limit", "59000")
    u = await broker.submit(o)
    assert u.status == "open"
    o.status = "open"
    await sim.set_price("binance", "BTC/USDT", "58900")
    for _ in range(100):
        if broker.updates:
            break
        await asyncio.sleep(0.05)
    assert broker.updates[-1].status == "filled"
    assert broker.updates[-1].fills[0].price == D("59000")


async def test_a_resting_limit_is_canceled_by_client_order_id(sim, broker):
    await sim.set_price("binance", "BTC/USDT", "60000")
    o = order("bp1-lim2", "buy", "0.01", "limit", "50000")
    await broker.submit(o)
    u = await broker.cancel(o)
    assert u.status == "canceled"
    assert (await broker.fetch(o)).status == "canceled"


async def test_refusals_are_rejected_with_the_venues_reason(sim, broker):
    await sim.set_price("binance", "BTC/USDT", "60000")
    u = await broker.submit(order("bp1-big", "buy", "10"))
    assert u.status == "rejected" and "insufficient balance" in u.error


async def test_an_order_the_venue_never_saw_is_reported_rejected_on_fetch(sim, broker):
    u = await broker.fetch(order("bp1-ghost", "buy", "0.01"))
    assert u.status == "rejected" and u.error == "Not found on the exchange"


async def test_a_bad_secret_is_refused(sim):
    b = LiveBroker(LiveAccount("binance", Credentials("key-1", "wrong"), sim.urls["binance"].rest), SystemClock())
    try:
        u = await b.submit(order("bp1-auth", "buy", "0.01"))
        assert u.status == "rejected"
    finally:
        await b.close()
