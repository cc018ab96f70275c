"""Every injected fault ends recovered, resubscribed and consistent, with no duplicate subscription,
on every transport (``-k via_<transport>`` selects one)."""

from __future__ import annotations

import asyncio

import pytest

from marketdata.feeds.types import Subscription
from tests.core.feeds.fakes import wait_until

from .conftest import manager

SYMBOLS = {"binance": "BTC/USDT", "coinbase": "BTC/USD", "kraken": "BTC/USD"}


@pytest.fixture
async def mgr(sim, kind: str):
    """Here every test runs once per transport."""
    m = manager(sim, kind)
    yield m
    await m.close()


async def _subscribed(sim, mgr, venue: str, channels=("ticker", "book")) -> tuple[list, list]:
    ticks: list = []
    events: list = []
    mgr.add_event_listener(events.append)
    for channel in channels:
        await mgr.subscribe(Subscription(venue, channel, SYMBOLS[venue]), ticks.append)
    await wait_until(lambda: mgr.book(venue, SYMBOLS[venue]) is not None, timeout=8)
    return ticks, events


def _consistent(sim, mgr, venue: str) -> bool:
    book = mgr.book(venue, SYMBOLS[venue])
    if book is None or book.is_crossed():
        return False
    return (book.best_bid()[0], book.best_ask()[0]) == sim.best_bid_ask(venue, SYMBOLS[venue])


async def _settled(sim, mgr, venue: str, timeout: float = 8.0) -> None:
    """With the walk paused, the manager's book converges on the simulator's. A step is taken each
    second: a replacement socket whose subscription landed after a step has no depth event to resync
    from until the next one (a live venue sends one every 100 ms)."""
    sim.paused = True
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await sim.step(venue)
            try:
                await wait_until(lambda: _consistent(sim, mgr, venue), timeout=1)
                return
            except AssertionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
    finally:
        sim.paused = False


def _one_socket_each(sim, venue: str) -> None:
    live = [c for c in sim.venue(venue).connections if not c.closed]
    assert len(live) == 1, f"{venue}: {len(live)} sockets"
    if venue == "binance":
        assert live[0].subs == {"btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@depth@100ms"}


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_a_dropped_connection_recovers_resubscribed_and_consistent(sim, mgr, venue: str) -> None:
    ticks, events = await _subscribed(sim, mgr, venue)
    sim.venue(venue).drop_connections()
    await wait_until(lambda: [e.kind for e in events].count("connected") >= 2, timeout=8)
    n = len(ticks)
    await wait_until(lambda: len(ticks) > n + 3, timeout=8)
    await _settled(sim, mgr, venue)
    _one_socket_each(sim, venue)
    assert mgr.health()[venue]["status"] in ("healthy", "degraded")


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_a_stalled_feed_is_detected_and_replaced(sim, mgr, venue: str) -> None:
    ticks, events = await _subscribed(sim, mgr, venue)
    sim.venue(venue).stall(True)
    await wait_until(lambda: "stale" in [e.kind for e in events] or "disconnected" in [e.kind for e in events],
                     timeout=8)  # fmt: skip
    await wait_until(lambda: [e.kind for e in events].count("connected") >= 2, timeout=8)
    await _settled(sim, mgr, venue)
    _one_socket_each(sim, venue)


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_malformed_frames_are_counted_and_the_feed_continues(sim, mgr, venue: str) -> None:
    ticks, events = await _subscribed(sim, mgr, venue)
    sent = sim.venue(venue).send_malformed()
    await wait_until(lambda: mgr.metrics()["exchanges"][venue]["parse_errors"] >= sent, timeout=5)
    n = len(ticks)
    await wait_until(lambda: len(ticks) > n + 3, timeout=5)
    assert [e.kind for e in events].count("connected") == 1  # never reconnected
    await _settled(sim, mgr, venue)


@pytest.mark.parametrize("venue", ["binance", "coinbase"])
async def test_a_sequence_gap_resyncs_the_book(sim, mgr, venue: str) -> None:
    ticks, events = await _subscribed(sim, mgr, venue)
    sim.venue(venue).sequence_gap(SYMBOLS[venue] if venue == "binance" else None)
    await wait_until(lambda: "resynced" in [e.kind for e in events], timeout=8)
    assert "resyncing" in [e.kind for e in events]
    await _settled(sim, mgr, venue)
    _one_socket_each(sim, venue)
    assert [e.kind for e in events].count("connected") == 1


async def test_a_bad_kraken_checksum_resyncs_the_book(sim, mgr) -> None:
    ticks, events = await _subscribed(sim, mgr, "kraken")
    sim.kraken.bad_checksum(SYMBOLS["kraken"])
    await wait_until(lambda: "resynced" in [e.kind for e in events], timeout=8)
    resync = next(e for e in events if e.kind == "resyncing")
    assert "checksum" in resync.detail["reason"]
    await _settled(sim, mgr, "kraken")
    _one_socket_each(sim, "kraken")


async def test_refused_connections_are_retried_until_the_venue_is_back(sim, mgr) -> None:
    ticks: list = []
    events: list = []
    mgr.add_event_listener(events.append)
    sim.binance.refuse_connections(1.0)
    await mgr.subscribe(Subscription("binance", "ticker", "BTC/USDT"), ticks.append)
    await asyncio.sleep(0.5)
    assert not mgr.is_connected("binance")
    assert mgr.health()["binance"]["status"] == "down"
    await wait_until(lambda: ticks, timeout=8)
    assert "reconnecting" in [e.kind for e in events]


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_tickers_come_from_rest_while_the_socket_is_refused(sim, venue: str, kind: str) -> None:
    from marketdata.feeds.fallback import FallbackSettings

    fb = FallbackSettings(start_after=0.2, interval=0.2, max_requests_per_second=10)
    mgr = manager(sim, kind, fallback=fb)
    ticks: list = []
    events: list = []
    mgr.add_event_listener(events.append)
    try:
        await mgr.subscribe(Subscription(venue, "ticker", SYMBOLS[venue]), ticks.append)
        assert await mgr.wait_connected(venue, 5)
        sim.venue(venue).refuse_connections(3.0)
        sim.venue(venue).drop_connections()
        await wait_until(lambda: "fallback_started" in [e.kind for e in events], timeout=5)
        n = len(ticks)
        await wait_until(lambda: len(ticks) > n, timeout=5)
        rest_tick = ticks[-1]
        bid, ask = sim.best_bid_ask(venue, SYMBOLS[venue])
        assert rest_tick.exchange == venue and rest_tick.bid is not None and rest_tick.ask is not None
        assert abs(rest_tick.bid - bid) / bid < 0.05 and rest_tick.bid < rest_tick.ask
        assert mgr.metrics()["exchanges"][venue]["fallback_ticks"] >= 1
        await wait_until(lambda: "fallback_stopped" in [e.kind for e in events], timeout=8)
        assert mgr.is_connected(venue)
    finally:
        await mgr.close()
