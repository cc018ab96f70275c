"""A connection subscribes, survives drops, stalls and garbage, and resubscribes everything after a reconnect."""

from __future__ import annotations

import asyncio

from marketdata.exchanges.base import Endpoint
from marketdata.exchanges.binance import BinanceAdapter
from marketdata.feeds.connection import Backoff, Connection, ConnectionSettings, FeedEvent
from marketdata.feeds.types import Subscription

from .fakes import FakeVenue, book_ticker, trade, wait_until

FAST = ConnectionSettings(connect_timeout=2, stale_after=5, healthy_after=0.2, backoff=Backoff(initial=0.05, max=0.2))


def _connection(venue: FakeVenue, settings: ConnectionSettings = FAST) -> tuple[Connection, list, list[FeedEvent]]:
    events: list = []
    feed_events: list[FeedEvent] = []
    conn = Connection(
        "binance", BinanceAdapter(), Endpoint(ws=venue.url, rest="http://127.0.0.1:9"), events.append,
        feed_events.append, settings,
    )  # fmt: skip
    return conn, events, feed_events


async def test_subscriptions_added_before_connecting_go_out_in_one_frame(venue: FakeVenue) -> None:
    conn, events, feed_events = _connection(venue)
    conn.add([Subscription("binance", "ticker", "BTC/USDT"), Subscription("binance", "trades", "ETH/USDT")])
    conn.start()
    try:
        await wait_until(lambda: venue.received)
        assert venue.received[0]["method"] == "SUBSCRIBE"
        assert sorted(venue.received[0]["params"]) == ["btcusdt@bookTicker", "btcusdt@ticker", "ethusdt@trade"]
        await venue.push(book_ticker())
        await wait_until(lambda: events)
        assert events[0].bid == events[0].bid.__class__("100.00")
        assert [e.kind for e in feed_events] == ["connected"]
    finally:
        await conn.close()


async def test_a_dropped_connection_reconnects_and_resubscribes_everything_once(venue: FakeVenue) -> None:
    conn, events, feed_events = _connection(venue)
    conn.add([Subscription("binance", "ticker", "BTC/USDT")])
    conn.start()
    try:
        await wait_until(lambda: venue.received)
        conn.add([Subscription("binance", "trades", "BTC/USDT")])
        await wait_until(lambda: len(venue.received) == 2)
        venue.drop()
        await wait_until(lambda: venue.connections == 2 and len(venue.received) == 3)
        assert sorted(venue.received[2]["params"]) == ["btcusdt@bookTicker", "btcusdt@ticker", "btcusdt@trade"]
        await venue.push(trade())
        await wait_until(lambda: events)
        kinds = [e.kind for e in feed_events]
        assert kinds[:4] == ["connected", "disconnected", "reconnecting", "connected"]
        assert conn.stats.reconnects == 1
        await asyncio.sleep(0.1)
        assert len(venue.received) == 3  # no duplicate subscription
    finally:
        await conn.close()


async def test_malformed_frames_are_counted_and_skipped(venue: FakeVenue) -> None:
    conn, events, _ = _connection(venue)
    conn.add([Subscription("binance", "ticker", "BTC/USDT")])
    conn.start()
    try:
        await wait_until(lambda: venue.clients and venue.received)
        for garbage in ("{not json", "[]", '{"stream":"x","data":{"e":"trade"}}', book_ticker(bid="NaN")):
            await venue.push(garbage)
        await venue.push(book_ticker(bid="101.5"))
        await wait_until(lambda: events)
        assert conn.stats.parse_errors == 4
        assert str(events[0].bid) == "101.5"
        assert conn.is_connected and venue.connections == 1
    finally:
        await conn.close()


async def test_a_stalled_feed_is_detected_and_reconnected(venue: FakeVenue) -> None:
    settings = ConnectionSettings(connect_timeout=2, stale_after=0.3, backoff=Backoff(initial=0.05, max=0.1))
    conn, _, feed_events = _connection(venue, settings)
    conn.add([Subscription("binance", "ticker", "BTC/USDT")])
    conn.start()
    try:
        await wait_until(lambda: venue.connections == 2, timeout=5)
        assert "stale" in [e.kind for e in feed_events]
        assert conn.stats.stale >= 1
    finally:
        await conn.close()


async def test_refused_connections_back_off_and_stop_after_max_attempts(venue: FakeVenue) -> None:
    venue.refuse = True
    settings = ConnectionSettings(connect_timeout=1, backoff=Backoff(initial=0.02, max=0.05, max_attempts=3))
    conn, _, feed_events = _connection(venue, settings)
    conn.add([Subscription("binance", "ticker", "BTC/USDT")])
    conn.start()
    try:
        await wait_until(lambda: conn.state == "failed", timeout=5)
        kinds = [e.kind for e in feed_events]
        assert kinds == ["reconnecting"] * 3 + ["failed"]
        delays = [e.detail["delay"] for e in feed_events[:3]]
        assert delays[0] < delays[2]
    finally:
        await conn.close()


async def test_a_refusing_venue_is_retried_until_it_comes_back(venue: FakeVenue) -> None:
    venue.refuse = True
    conn, events, _ = _connection(venue)
    conn.add([Subscription("binance", "ticker", "BTC/USDT")])
    conn.start()
    try:
        await asyncio.sleep(0.3)
        assert not conn.is_connected
        venue.refuse = False
        await wait_until(lambda: conn.is_connected and venue.received, timeout=3)
    finally:
        await conn.close()


async def test_outgoing_frames_respect_the_venue_rate_limit(venue: FakeVenue) -> None:
    conn, _, _ = _connection(venue)
    conn.start()
    try:
        await conn.wait_connected(2)
        for i in range(6):  # six loop turns: six separate SUBSCRIBE frames
            conn.add([Subscription("binance", "trades", f"C{i}/USDT")])
            await asyncio.sleep(0)
        await wait_until(lambda: len(venue.received) == 6, timeout=4)
        times = venue.received_at
        # Binance allows 5 messages/s; we keep one spare for pongs: never 5 inside one second.
        assert all(times[i + 4] - times[i] >= 0.9 for i in range(len(times) - 4))
    finally:
        await conn.close()


async def test_close_is_graceful_and_final(venue: FakeVenue) -> None:
    conn, _, _ = _connection(venue)
    conn.add([Subscription("binance", "ticker", "BTC/USDT")])
    conn.start()
    await conn.wait_connected(2)
    await conn.close()
    await wait_until(lambda: not venue.clients)
    await asyncio.sleep(0.2)
    assert venue.connections == 1 and conn.state == "closed"


async def test_the_connection_is_renewed_before_the_venue_lifetime_and_keeps_its_subscriptions(venue) -> None:
    from marketdata.exchanges.base import Limits

    class ShortLived(BinanceAdapter):
        limits = Limits(max_lifetime_s=0.5)

    events: list = []
    feed_events: list[FeedEvent] = []
    settings = ConnectionSettings(connect_timeout=2, stale_after=2, healthy_after=0.2)
    conn = Connection("binance", ShortLived(), Endpoint(ws=venue.url, rest="http://127.0.0.1:9"), events.append,
                      feed_events.append, settings)  # fmt: skip
    conn.add([Subscription("binance", "trades", "BTC/USDT")])
    conn.start()
    try:
        await wait_until(lambda: venue.connections >= 2 and len(venue.received) >= 2, timeout=5)
        assert venue.received[1]["params"] == ["btcusdt@trade"]
        disconnected = next(e for e in feed_events if e.kind == "disconnected")
        assert "lifetime" in disconnected.detail["reason"]
        reconnecting = next(e for e in feed_events if e.kind == "reconnecting")
        assert reconnecting.detail["delay"] == 0.0  # a planned renewal does not wait
    finally:
        await conn.close()


async def test_venues_with_an_application_ping_get_one_on_schedule(venue) -> None:
    class Pinging(BinanceAdapter):
        app_ping_interval = 0.3

        def app_ping_frame(self) -> str:
            return '{"method":"ping"}'

    conn = Connection("binance", Pinging(), Endpoint(ws=venue.url, rest="http://127.0.0.1:9"), lambda e: None,
                      lambda e: None, ConnectionSettings(connect_timeout=2, stale_after=1.2))  # fmt: skip
    conn.start()
    try:
        await wait_until(lambda: sum(d.get("method") == "ping" for d in venue.received) >= 2, timeout=5)
    finally:
        await conn.close()
