"""Drill: the clocks disagree by minutes.

The venue's clock (the simulator's ``clock_offset_ms``) is minutes off ours: signed requests still
work because the live broker signs on the venue's server time (taken at its first request and again
when a request is refused for its timestamp), and fills carry the venue's time. The engine's own
clock skewed in its process is the subprocess drill in tests/integration/drills/test_clock_skew.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.engine.strategies import Signal
from bots.models import ExchangeAccount, Fill, Order

from .conftest import path, read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
D = Decimal
MINUTE_MS = 60_000


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
