"""Adapters against the project's simulator: every channel of every venue, routing, reference counting."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from marketdata.feeds.types import BookSnapshot, BookUpdate, Candle, Subscription, Ticker, Trade
from tests.core.feeds.fakes import wait_until

SYMBOLS = {"binance": "BTC/USDT", "coinbase": "BTC/USD", "kraken": "BTC/USD"}
TYPES = {"ticker": (Ticker,), "trades": (Trade,), "book": (BookSnapshot, BookUpdate), "candles": (Candle,)}


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
@pytest.mark.parametrize("channel", ["ticker", "trades", "book", "candles"])
async def test_every_channel_of_every_venue_round_trips(sim, mgr, venue: str, channel: str) -> None:
    symbol = SYMBOLS[venue]
    got: list = []
    await mgr.subscribe(Subscription(venue, channel, symbol), got.append)
    assert await mgr.wait_connected(venue, 5)
    if channel == "trades":
        await asyncio.sleep(0.2)
        await sim.set_price(venue, symbol, sim.price(venue, symbol) * Decimal("1.001"))
    await wait_until(lambda: got, timeout=8)
    assert all(isinstance(e, TYPES[channel]) for e in got)
    assert {(e.exchange, e.symbol) for e in got} == {(venue, symbol)}
    assert mgr.metrics()["exchanges"][venue]["parse_errors"] == 0


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_ticker_and_local_book_match_the_simulators_best_prices(sim, mgr, venue: str) -> None:
    symbol = SYMBOLS[venue]
    ticks: list[Ticker] = []
    await mgr.subscribe(Subscription(venue, "ticker", symbol), ticks.append)
    await mgr.subscribe(Subscription(venue, "book", symbol), lambda e: None)
    await wait_until(lambda: mgr.book(venue, symbol) is not None and ticks, timeout=8)
    sim.paused = True
    await sim.set_price(venue, symbol, sim.price(venue, symbol) + 25)
    expected = sim.best_bid_ask(venue, symbol)

    def caught_up() -> bool:
        book = mgr.book(venue, symbol)
        return (
            book is not None and (book.best_bid()[0], book.best_ask()[0]) == expected
            and ticks and (ticks[-1].bid, ticks[-1].ask) == expected
        )  # fmt: skip

    await wait_until(caught_up, timeout=8)
    assert not mgr.book(venue, symbol).is_crossed()


async def test_a_binance_listener_never_sees_another_venues_tick(sim, mgr) -> None:
    seen: dict[str, list] = {v: [] for v in SYMBOLS}
    for venue, symbol in SYMBOLS.items():
        await mgr.subscribe(Subscription(venue, "ticker", symbol), seen[venue].append)
        await mgr.subscribe(Subscription(venue, "trades", symbol), seen[venue].append)
    await wait_until(lambda: all(len(v) > 5 for v in seen.values()), timeout=8)
    for venue, events in seen.items():
        assert {(e.exchange, e.symbol) for e in events} == {(venue, SYMBOLS[venue])}


async def test_shared_streams_are_subscribed_once_and_released_by_the_last_user(sim, mgr) -> None:
    sub = Subscription("binance", "ticker", "BTC/USDT")
    handles = [await mgr.subscribe(sub, lambda e: None) for _ in range(3)]
    other = await mgr.subscribe(Subscription("binance", "trades", "ETH/USDT"), lambda e: None)
    subscribers = sim.binance.subscribers
    await wait_until(lambda: len(subscribers.get("btcusdt@bookTicker", ())) == 1, timeout=5)
    (conn,) = subscribers["btcusdt@bookTicker"]
    for handle in handles[:2]:
        await mgr.unsubscribe(handle)
    await asyncio.sleep(0.2)
    assert "btcusdt@bookTicker" in conn.subs
    await mgr.unsubscribe(handles[2])
    await wait_until(lambda: "btcusdt@bookTicker" not in conn.subs and "btcusdt@ticker" not in conn.subs)
    assert conn.subs == {"ethusdt@trade"}
    await mgr.unsubscribe(other)
