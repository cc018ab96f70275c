from decimal import Decimal

from bots.engine.brokers import PaperBroker
from bots.engine.types import Order

from .fakes import T0, FakeClock, spec, tick

D = Decimal


def setup(exchange="binance", capital="1000"):
    updates = []
    broker = PaperBroker(FakeClock(), slippage_bps=D(10))
    s = spec(exchange=exchange, capital=capital)
    broker.for_bot(s, updates.append)
    broker.on_ticker(tick("100", exchange=exchange, spread="2"))  # bid 99, ask 101
    return broker, s, updates


def order(s, side, qty, type_="market", price=None, coid="c1"):
    return Order(coid, s.id, s.instrument, side, type_, D(qty), D(price) if price else None, T0)


async def test_market_buy_fills_at_the_ask_plus_slippage_with_the_taker_fee():
    broker, s, _ = setup()
    u = await broker.submit(order(s, "buy", "2"))
    assert u.status == "filled"
    f = u.fills[0]
    assert f.price == D("101") * D("1.001") and f.quantity == D(2)
    assert f.fee == f.price * 2 * D("0.001") and not f.is_maker
    assert broker.balance(s.id, "USDT") == D(1000) - f.price * 2 - f.fee
    assert broker.balance(s.id, "BTC") == D(2)


async def test_market_sell_fills_at_the_bid_minus_slippage():
    broker, s, _ = setup()
    await broker.submit(order(s, "buy", "1"))
    u = await broker.submit(order(s, "sell", "1", coid="c2"))
    assert u.fills[0].price == D("99") * D("0.999")


async def test_fees_follow_the_exchange_schedule():
    broker, s, _ = setup("coinbase")
    u = await broker.submit(order(s, "buy", "1"))
    assert u.fills[0].fee == u.fills[0].price * D("0.006")


async def test_a_limit_buy_rests_then_fills_at_its_price_as_maker_when_the_ask_crosses():
    broker, s, updates = setup()
    u = await broker.submit(order(s, "buy", "1", "limit", "95"))
    assert u.status == "open"
    broker.on_ticker(tick("97", spread="2"))  # ask 98: not yet
    assert updates == []
    broker.on_ticker(tick("94", spread="2"))  # ask 95
    assert [x.status for x in updates] == ["filled"]
    f = updates[0].fills[0]
    assert f.price == D(95) and f.is_maker and f.fee == D("0.095")


async def test_a_marketable_limit_fills_at_once_at_the_better_opposite_price():
    broker, s, _ = setup()
    u = await broker.submit(order(s, "buy", "1", "limit", "105"))
    assert u.status == "filled" and u.fills[0].price == D(101)


async def test_a_sell_stop_triggers_when_the_bid_touches_it():
    broker, s, updates = setup()
    await broker.submit(order(s, "buy", "1"))
    await broker.submit(order(s, "sell", "1", "stop", "90", coid="c2"))
    broker.on_ticker(tick("91", spread="2"))  # bid 90
    assert updates[0].fills[0].price == D(90) * D("0.999")


async def test_orders_the_paper_balance_cannot_pay_for_are_rejected():
    broker, s, _ = setup(capital="100")
    u = await broker.submit(order(s, "buy", "1"))
    assert u.status == "rejected" and u.error == "Insufficient USDT balance"
    u = await broker.submit(order(s, "sell", "1", coid="c2"))
    assert u.status == "rejected" and u.error == "Insufficient BTC balance"


async def test_canceling_a_resting_order_removes_it_from_the_book():
    broker, s, updates = setup()
    o = order(s, "buy", "1", "limit", "90")
    await broker.submit(o)
    assert (await broker.cancel(o)).status == "canceled"
    broker.on_ticker(tick("80"))
    assert updates == []


async def test_a_resting_order_holds_its_funds_until_it_fills_or_is_canceled():
    broker, s, _ = setup()
    first = order(s, "buy", "6", "limit", "90")
    assert (await broker.submit(first)).status == "open"
    assert broker.balance(s.id, "USDT") == D(1000) - D(540) * D("1.001")
    u = await broker.submit(order(s, "buy", "6", "limit", "90", coid="c2"))
    assert u.status == "rejected"  # the first order's funds are spoken for
    await broker.cancel(first)
    assert broker.balance(s.id, "USDT") == D(1000)
