"""Protective stop orders on the three simulated venues: ccxt's own unified ``create_order`` with
``stopLossPrice`` (the venues' request shapes as ccxt sends them) and each venue folder's
``place_protective_stop`` (Binance STOP_LOSS_LIMIT, Coinbase ``stop_limit_stop_limit_gtc``, Kraken
``stop-loss-limit``): placed, listed as open, not triggered above the stop, triggered by the simulated
price, filled, cancelled."""

from __future__ import annotations

from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from marketdata.exchanges.base import OrderRefused
from marketdata.exchanges.registry import get_adapter
from marketdata.simulator.server import Simulator

from .test_venue_trading import VENUES, client_for, coid

D = Decimal
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim():
    s = Simulator(seed=5)
    await s.start()
    s.pause()
    yield s
    await s.stop()


@pytest.fixture(params=VENUES, ids=lambda v: v.name)
async def venue(request, sim):
    v = request.param
    await sim.set_price(v.name, v.symbol, "60000")
    return v


def test_every_venue_declares_protective_stops():
    assert all(get_adapter(v.name).capabilities.protective_stops for v in VENUES)


async def test_a_protective_stop_rests_untriggered_until_the_price_falls_then_fills_at_its_limit(sim, venue):
    client, key = await client_for(sim, venue)
    try:
        ours = coid()
        placed = await client.place_protective_stop(venue.symbol, D("0.5"), D("59000"), D("58900"), ours)
        assert placed.client_order_id == ours and placed.status == "open" and placed.filled_quantity == 0
        assert placed.stop_price == D("59000") and placed.price == D("58900") and placed.side == "sell"
        listed = await client.open_orders(venue.symbol)
        assert [(o.client_order_id, o.stop_price) for o in listed] == [(ours, D("59000"))]
        assert getattr(sim, venue.name).balances(key)["BTC"] == (D("0.5"), D("0.5"))  # the stop holds its base

        await sim.set_price(venue.name, venue.symbol, "59500")  # above the trigger: still armed
        assert (await client.order(venue.symbol, ours)).status == "open"

        await sim.set_price(venue.name, venue.symbol, "59000")  # the last trade reaches the trigger
        done = await client.order(venue.symbol, ours)
        assert done.status == "filled" and done.filled_quantity == D("0.5")
        trades = await client.trades(venue.symbol, placed.time, done.exchange_order_id)
        bid, _ = sim.best_bid_ask(venue.name, venue.symbol)
        assert sum(t.quantity for t in trades) == D("0.5") and {t.price for t in trades} == {bid}
        assert await client.open_orders(venue.symbol) == []
    finally:
        await client.close()


async def test_a_protective_stop_is_cancelled_and_gives_its_base_back(sim, venue):
    client, key = await client_for(sim, venue)
    try:
        ours = coid()
        await client.place_protective_stop(venue.symbol, D("0.25"), D("59000"), D("58900"), ours)
        cancelled = await client.cancel(venue.symbol, ours)
        assert cancelled.status == "canceled" and cancelled.stop_price == D("59000")
        assert getattr(sim, venue.name).balances(key)["BTC"] == (D("1"), D("0"))
        await sim.set_price(venue.name, venue.symbol, "58000")  # a cancelled stop never fires
        assert (await client.order(venue.symbol, ours)).status == "canceled"
    finally:
        await client.close()


async def test_a_triggered_stop_limit_below_the_market_rests_at_its_limit(sim, venue):
    client, _ = await client_for(sim, venue)
    try:
        ours = coid()
        await client.place_protective_stop(venue.symbol, D("0.1"), D("59000"), D("58500"), ours)
        await sim.set_price(venue.name, venue.symbol, "58000")  # gapped through the limit: triggered, not filled
        assert (await client.order(venue.symbol, ours)).status == "open"
        await sim.set_price(venue.name, venue.symbol, "58600")  # back up: the resting limit fills as a maker
        done = await client.order(venue.symbol, ours)
        assert done.status == "filled"
        trades = await client.trades(venue.symbol, done.time, done.exchange_order_id)
        assert {(t.price, t.is_maker) for t in trades} == {(D("58500"), True)}
    finally:
        await client.close()


async def test_a_stop_above_the_market_is_refused_where_the_venue_refuses_it(sim, venue):
    client, _ = await client_for(sim, venue)
    try:
        if venue.name == "kraken":  # Kraken triggers it at once
            placed = await client.place_protective_stop(venue.symbol, D("0.1"), D("61000"), D("59000"), coid())
            assert (await client.order(venue.symbol, placed.client_order_id)).status == "filled"
        else:
            with pytest.raises(OrderRefused):
                await client.place_protective_stop(venue.symbol, D("0.1"), D("61000"), D("60900"), coid())
    finally:
        await client.close()


def _ccxt(sim, venue, key: str, secret: str):
    rest = sim.urls[venue.name].rest
    if venue.name == "binance":
        ex = ccxt_async.binance({"apiKey": key, "secret": secret, "options": {
            "fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False}})
        ex.urls["api"].update({k: rest + "/api/v3" for k in ("public", "private", "v1", "v3")})
        ex.urls["api"]["sapi"] = rest + "/sapi/v1"
    elif venue.name == "coinbase":
        ex = ccxt_async.coinbase({"apiKey": key, "secret": secret})
        ex.urls["api"]["rest"] = rest
    else:
        ex = ccxt_async.kraken({"apiKey": key, "secret": secret})
        ex.urls["api"].update({"public": rest, "private": rest})
    ex.enableRateLimit = False
    return ex


async def test_ccxts_unified_stop_loss_orders_are_understood_by_the_simulator(sim, venue):
    key, secret = venue.keys()
    getattr(sim, venue.name).add_account(key, secret, {venue.quote: "100000", "BTC": "1"})
    ex = _ccxt(sim, venue, key, secret)
    try:
        order = await ex.create_order(venue.symbol, "limit", "sell", 0.2, 58900, {"stopLossPrice": 59000})
        sent = getattr(sim, venue.name).trading.orders[max(getattr(sim, venue.name).trading.orders)]
        assert (sent.type, sent.stop_price, sent.price, sent.status) == ("STOP_LOSS_LIMIT", D("59000"), D("58900"),
                                                                         "NEW")
        fetched = await ex.fetch_open_orders(venue.symbol)
        assert [o["id"] for o in fetched] == [order["id"]]
        trigger = fetched[0]["stopLossPrice"] if venue.name == "kraken" else fetched[0]["triggerPrice"]
        assert trigger == 59000 and fetched[0]["price"] == 58900  # ccxt's Kraken parser names it stopLossPrice
        await sim.set_price(venue.name, venue.symbol, "58950")
        assert await ex.fetch_open_orders(venue.symbol) == []
        assert sent.status == "FILLED"
    finally:
        await ex.close()
