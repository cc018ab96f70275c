"""Drill: the clocks disagree by minutes, on each venue's protocol.

The venue's clock (the simulator's ``clock_offset_ms``) is minutes off ours: signed requests still
work because the live broker signs on the venue's server time (taken when a request is refused for
its timestamp: Binance's -1021, Coinbase's 401 for a JWT outside its ``nbf``/``exp`` window), and
fills carry the venue's time. Kraken signs with nonces, not times: they keep increasing when our clock
steps back, and a key that signed higher nonces elsewhere is a clear refusal. The engine's own clock
skewed in its process is the subprocess drill in tests/integration/drills/test_clock_skew.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.engine.strategies import Signal
from bots.models import ExchangeAccount, Fill, Order

from .conftest import path, read, until
from .test_protective_engine import host_on  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
D = Decimal
MINUTE_MS = 60_000


def venue_bot(make_bot, owner, sim, code: str, venue: str, symbol: str, quote: str):
    """A live bot on the simulated venue's signed REST (its own new key)."""
    from marketdata.models import Exchange

    from .test_three_venues import keys

    key, secret = keys(venue)
    getattr(sim, venue).add_account(key, secret, {quote: "100000", "BTC": "0"})
    account = ExchangeAccount.objects.create(owner=owner, exchange=Exchange.objects.get(code=code),
                                             label=f"sim {venue}", api_key=key, api_secret=secret)
    bot = make_bot(owner, exchange=code, symbol=symbol, status="running", mode="live", live_confirmed=True,
                   account=account, params={"fast_period": 50, "slow_period": 60, "timeframe": "tick"},
                   capital=D("50000"), order_size=D("500"), max_position=D("10"), max_open_orders=5)
    return bot, key


def live_bot(make_bot, owner, sim):
    from marketdata.models import Exchange

    account = ExchangeAccount.objects.create(owner=owner, exchange=Exchange.objects.get(code="simulator"),
                                             label="sim", api_key="skew-key", api_secret="skew-secret")
    sim.binance.trading.add_account("skew-key", "skew-secret", {"USDT": "100000", "BTC": "0"})
    return make_bot(owner, status="running", mode="live", live_confirmed=True, account=account,
                    params={"fast_period": 50, "slow_period": 60, "timeframe": "tick"},
                    capital=D("50000"), order_size=D("500"), max_position=D("10"), max_open_orders=5)


def order_with(bot_id, status, count):
    rows = list(Order.objects.filter(bot_id=bot_id, status=status))
    return rows if len(rows) >= count else None


async def test_signed_requests_work_when_the_venue_clock_is_minutes_off_and_fills_carry_its_time(
        sim, make_host, make_bot, alice):
    venue = sim.binance.trading
    venue.clock_offset_ms = 5 * MINUTE_MS  # the venue is 5 minutes ahead: our timestamps are "too old"
    bot = await read(live_bot, make_bot, alice, sim)
    host = await make_host()
    await path(sim, "binance", "BTC/USDT", ["60000"])
    runner = host.engine.bots[bot.id]
    runner.signal(Signal("buy", "entry", amount=D("500")))
    await until(lambda: order_with(bot.id, "filled", 1))
    broker = next(iter(host.live.brokers.values())).client
    assert abs(broker.time_offset_ms + 5 * MINUTE_MS) < 2000  # local minus venue
    fill = await read(lambda: Fill.objects.get(order__bot_id=bot.id))
    venue_now = datetime.now(UTC) + timedelta(minutes=5)
    assert abs((fill.time - venue_now).total_seconds()) < 10  # the fill is dated on the venue's clock

    # The venue's clock jumps 8 minutes back: the next request is refused for its timestamp (-1021),
    # the broker takes the venue's time again and re-signs it; nothing is rejected or sent twice.
    venue.clock_offset_ms = -3 * MINUTE_MS
    runner.signal(Signal("buy", "ladder", type="limit", price=D("50000"), amount=D("500")))
    resting = await until(lambda: order_with(bot.id, "open", 1))
    assert abs(broker.time_offset_ms - 3 * MINUTE_MS) < 2000
    assert [o.client_order_id for o in venue.orders.values()].count(resting[0].client_order_id) == 1
    assert not await read(lambda: list(Order.objects.filter(bot_id=bot.id, status__in=["rejected", "unknown"])))


async def test_coinbase_tokens_are_dated_on_the_venue_time_when_its_clock_is_minutes_off(
        sim, make_host, make_bot, alice):
    venue = sim.coinbase.trading
    venue.clock_offset_ms = 5 * MINUTE_MS  # our JWTs expire (exp = nbf + 120 s) before the venue's now
    bot, key = await read(venue_bot, make_bot, alice, sim, "coinbase", "coinbase", "BTC/USD", "USD")
    host = await make_host()
    await path(sim, "coinbase", "BTC/USD", ["60000"])
    runner = host.engine.bots[bot.id]
    runner.signal(Signal("buy", "entry", amount=D("500")))
    await until(lambda: order_with(bot.id, "filled", 1), timeout=20)
    client = host.live.brokers[bot.account_id].client
    assert abs(client.time_offset_ms + 5 * MINUTE_MS) < 2000  # local minus venue
    fill = await read(lambda: Fill.objects.get(order__bot_id=bot.id))
    assert abs((fill.time - (datetime.now(UTC) + timedelta(minutes=5))).total_seconds()) < 10

    # The venue's clock jumps 8 minutes back: our tokens are now not yet valid (nbf in its future).
    venue.clock_offset_ms = -3 * MINUTE_MS
    runner.signal(Signal("buy", "ladder", type="limit", price=D("50000"), amount=D("500")))
    resting = await until(lambda: order_with(bot.id, "open", 1), timeout=20)
    assert abs(client.time_offset_ms - 3 * MINUTE_MS) < 2000
    assert [o.client_order_id for o in venue.orders.values()].count(resting[0].client_order_id) == 1
    assert not await read(lambda: list(Order.objects.filter(bot_id=bot.id, status__in=["rejected", "unknown"])))


async def test_coinbase_answers_a_real_authentication_failure_without_resigning(sim):
    """A 401 while the clocks agree is a bad key: refused with the venue's answer, the time read once."""
    from marketdata.exchanges.base import Credentials, OrderRefused, OrderRequest
    from marketdata.exchanges.coinbase.trading import CoinbaseTrading

    from .test_three_venues import keys

    key, secret = keys("coinbase")
    _, other = keys("coinbase")
    sim.coinbase.add_account(key, secret, {"USD": "1000"})
    client = CoinbaseTrading(sim.urls["coinbase"].rest, Credentials(key, other))  # signed with the wrong key
    try:
        with pytest.raises(OrderRefused, match="Unauthorized|AuthenticationError|401"):
            await client.place(OrderRequest("BTC/USD", "bp1-auth", "buy", "market", D("0.001")))
        assert abs(client.time_offset_ms) < 2000 and client.requests == 1
    finally:
        await client.close()


async def test_kraken_nonces_keep_increasing_when_our_clock_steps_back_and_a_key_used_ahead_is_refused_clearly(
        sim, host_on, make_bot, alice, monkeypatch):  # noqa: F811
    venue = sim.kraken.trading
    venue.clock_offset_ms = 5 * MINUTE_MS  # Kraken does not care: it checks nonces, not times
    bot, key = await read(venue_bot, make_bot, alice, sim, "kraken", "kraken", "BTC/USD", "USD")
    host = await host_on()  # Kraken's REST budget: its requests may wait seconds in ccxt's throttle
    await path(sim, "kraken", "BTC/USD", ["60000"])
    runner = host.engine.bots[bot.id]
    runner.signal(Signal("buy", "entry", amount=D("500")))
    await until(lambda: order_with(bot.id, "filled", 1), timeout=30)

    # Our clock steps a minute back (NTP): the nonces must still increase, or Kraken refuses them.
    from marketdata.exchanges.kraken import trading

    stepped = trading.wall_ms
    monkeypatch.setattr(trading, "wall_ms", lambda: stepped() - MINUTE_MS)
    runner.signal(Signal("buy", "ladder", type="limit", price=D("50000"), amount=D("500")))
    resting = await until(lambda: order_with(bot.id, "open", 1), timeout=30)
    assert len([o for o in venue.orders.values() if o.price == D("50000")]) == 1 and resting
    assert not await read(lambda: list(Order.objects.filter(bot_id=bot.id, status__in=["rejected", "unknown"])))

    # Another process signed with this key on a clock 10 minutes ahead: its nonces are out of our reach.
    venue.accounts[key].last_nonce = stepped() + 10 * MINUTE_MS
    runner.signal(Signal("buy", "ladder", type="limit", price=D("49000"), amount=D("500")))
    [refused] = await until(lambda: order_with(bot.id, "rejected", 1), timeout=30)
    assert "Kraken refused our nonce twice" in refused.last_error and "EAPI:Invalid nonce" in refused.last_error
    assert not await read(lambda: list(Order.objects.filter(bot_id=bot.id, status="unknown")))
    assert len([o for o in venue.orders.values() if o.price == D("49000")]) == 0  # never processed
