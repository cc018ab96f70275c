"""Warm-up from the simulator's REST klines, and reloading a bot's edited settings."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.engine.history import KlineHistory
from bots.models import Bot
from marketdata.exchanges.base import Endpoint
from marketdata.exchanges.registry import get_adapter
from marketdata.feeds.types import Instrument

from .conftest import read

pytestmark = [pytest.mark.timeout(60)]
D = Decimal


@pytest.mark.parametrize(("code", "protocol", "symbol"), [
    ("simulator", "binance", "BTC/USDT"), ("coinbase", "coinbase", "BTC/USD"), ("kraken", "kraken", "BTC/USD")])
async def test_kline_history_returns_closed_candles_oldest_first(sim, code, protocol, symbol):
    history = KlineHistory({code: (get_adapter(protocol), Endpoint("", sim.urls[protocol].rest))})
    try:
        candles = await history.fetch_candles(Instrument(code, symbol), "1m", 30)
    finally:
        await history.close()
    assert 0 < len(candles) <= 30
    assert all(c.closed and c.interval == "1m" and c.exchange == code for c in candles)
    times = [c.open_time for c in candles]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert all(c.low <= c.open <= c.high and c.low <= c.close <= c.high for c in candles)
    assert await KlineHistory({}).fetch_candles(Instrument("kraken", "BTC/USD"), "1m", 5) == []


@pytest.mark.django_db(transaction=True)
async def test_a_bar_strategy_is_warmed_up_from_the_venues_klines_at_start(sim, make_host, make_bot, alice):
    bot = await read(make_bot, alice, status="running", params={"fast_period": 3, "slow_period": 8,
                                                                 "timeframe": "1m"})
    host = await make_host()
    strategy = host.engine.bots[bot.id].strategy
    assert strategy.slow.value is not None and strategy.fast.value is not None


@pytest.mark.django_db(transaction=True)
async def test_reload_applies_edited_parameters_and_risk_without_dropping_the_feed(sim, make_host, make_bot, alice):
    bot = await read(make_bot, alice, status="running", params={"fast_period": 2, "slow_period": 3,
                                                                 "timeframe": "tick"})
    host = await make_host()
    await read(Bot.objects.filter(pk=bot.id).update, params={"fast_period": 4, "slow_period": 9,
                                                             "timeframe": "tick"}, stop_loss_pct=D("2"))
    await host.control({"action": "reload", "bot_id": bot.id})
    runner = host.engine.bots[bot.id]
    assert runner.strategy.p["slow_period"] == 9 and runner.spec.risk.stop_loss_pct == D("2")
    assert len(host.engine.routes) == 1 and runner.status == "running"
