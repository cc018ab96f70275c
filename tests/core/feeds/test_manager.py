"""The manager pools connections, reference-counts subscriptions, routes by (exchange, channel, symbol)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from prometheus_client import generate_latest

from marketdata.exchanges.base import Endpoint, Limits
from marketdata.exchanges.binance import BinanceAdapter
from marketdata.feeds.connection import Backoff, ConnectionSettings
from marketdata.feeds.fallback import FallbackSettings
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.types import Subscription, Ticker, Trade

from .fakes import FakeRest, FakeVenue, book_ticker, trade, wait_until

FAST = ConnectionSettings(connect_timeout=2, stale_after=5, healthy_after=0.2, backoff=Backoff(initial=0.05, max=0.2))
BTC = Subscription("binance", "ticker", "BTC/USDT")


def _manager(venues: dict[str, FakeVenue], rest_url: str = "http://127.0.0.1:9", **kw) -> MarketDataManager:
    endpoints = {name: Endpoint(ws=v.url, rest=rest_url) for name, v in venues.items()}
    kw.setdefault("fallback", FallbackSettings(enabled=False))
    return MarketDataManager(endpoints=endpoints, settings=FAST, **kw)


async def test_only_the_first_subscribe_and_the_last_unsubscribe_reach_the_wire(venue: FakeVenue) -> None:
    mgr = _manager({"binance": venue})
    try:
        first = await mgr.subscribe(BTC, lambda e: None)
        second = await mgr.subscribe(BTC, lambda e: None)
        keep = await mgr.subscribe(Subscription("binance", "trades", "ETH/USDT"), lambda e: None)
        await wait_until(lambda: len(venue.subscribed_params()) == 3)
        assert mgr.subscriber_count(BTC) == 2
        await mgr.unsubscribe(first)
        await mgr.unsubscribe(first)  # idempotent
        await mgr.subscribe(BTC, lambda e: None)  # still subscribed: nothing on the wire
        await mgr.unsubscribe(second)
        assert venue.subscribed_params("UNSUBSCRIBE") == []
        assert venue.subscribed_params().count("btcusdt@bookTicker") == 1
        assert len(mgr.connections("binance")) == 1
        await mgr.unsubscribe(keep)
        await wait_until(lambda: venue.subscribed_params("UNSUBSCRIBE") == ["ethusdt@trade"])
    finally:
        await mgr.close()


async def test_the_last_unsubscribe_sends_unsubscribe_then_closes_the_idle_socket(venue: FakeVenue) -> None:
    mgr = _manager({"binance": venue})
    try:
        handle = await mgr.subscribe(BTC, lambda e: None)
        await wait_until(lambda: venue.subscribed_params())
        await mgr.unsubscribe(handle)
        assert venue.subscribed_params("UNSUBSCRIBE") == ["btcusdt@bookTicker", "btcusdt@ticker"]
        await wait_until(lambda: not venue.clients)
        assert mgr.connections("binance") == []
    finally:
        await mgr.close()


async def test_ticks_reach_only_listeners_of_their_exchange_channel_and_symbol() -> None:
    venues = {name: await FakeVenue(ack=name == "binance").start() for name in ("binance", "coinbase", "kraken")}
    mgr = _manager(venues)
    got: dict[str, list] = {k: [] for k in ("bn_btc_ticker", "bn_btc_trades", "bn_eth_ticker", "cb_btc", "kr_btc")}
    try:
        await mgr.subscribe(BTC, got["bn_btc_ticker"].append)
        await mgr.subscribe(Subscription("binance", "trades", "BTC/USDT"), got["bn_btc_trades"].append)
        await mgr.subscribe(Subscription("binance", "ticker", "ETH/USDT"), got["bn_eth_ticker"].append)
        await mgr.subscribe(Subscription("coinbase", "ticker", "BTC/USDT"), got["cb_btc"].append)
        await mgr.subscribe(Subscription("kraken", "ticker", "BTC/USDT"), got["kr_btc"].append)
        for name in venues:
            assert await mgr.wait_connected(name, 3)
        await venues["binance"].push(book_ticker("BTCUSDT", bid="1.1"))
        await venues["binance"].push(trade("BTCUSDT", price="1.2"))
        await venues["binance"].push(book_ticker("ETHUSDT", bid="2.1"))
        await venues["coinbase"].push(json.dumps({
            "channel": "ticker", "timestamp": "2026-01-01T00:00:00Z", "sequence_num": 1, "events": [{"type": "update",
            "tickers": [{"product_id": "BTC-USDT", "price": "3.3", "best_bid": "3.1", "best_ask": "3.4"}]}]}))
        kraken_tick = {"symbol": "BTC/USDT", "bid": 4.1, "ask": 4.2, "last": 4.15}
        await venues["kraken"].push(json.dumps({"channel": "ticker", "type": "update", "data": [kraken_tick]}))
        await wait_until(lambda: all(got.values()))
        assert [(e.exchange, e.symbol, str(e.bid)) for e in got["bn_btc_ticker"]] == [("binance", "BTC/USDT", "1.1")]
        assert [(type(e), str(e.price)) for e in got["bn_btc_trades"]] == [(Trade, "1.2")]
        assert [str(e.bid) for e in got["bn_eth_ticker"]] == ["2.1"]
        assert [(e.exchange, str(e.bid)) for e in got["cb_btc"]] == [("coinbase", "3.1")]
        assert [(e.exchange, str(e.bid)) for e in got["kr_btc"]] == [("kraken", "4.1")]
    finally:
        await mgr.close()
        for v in venues.values():
            await v.stop()


async def test_a_failing_listener_does_not_stop_the_others_and_removed_listeners_get_nothing(venue) -> None:
    mgr = _manager({"binance": venue})
    good: list = []
    removed: list = []

    def broken(event):
        raise RuntimeError("bot bug")

    try:
        await mgr.subscribe(BTC, broken)
        await mgr.subscribe(BTC, good.append)
        gone = await mgr.subscribe(BTC, removed.append)
        await mgr.unsubscribe(gone)
        await mgr.wait_connected("binance", 3)
        await venue.push(book_ticker())
        await venue.push(book_ticker(bid="100.01"))
        await wait_until(lambda: len(good) == 2)
        assert removed == []
        row = next(s for s in mgr.metrics()["subscriptions"] if s["channel"] == "ticker")
        assert row["listener_errors"] == 2 and row["listeners"] == 2
        assert mgr.is_connected("binance")
    finally:
        await mgr.close()


async def test_feed_events_health_metrics_and_prometheus(venue: FakeVenue) -> None:
    mgr = _manager({"binance": venue})
    events: list = []
    remove = mgr.add_event_listener(events.append)
    try:
        await mgr.subscribe(BTC, lambda e: None)
        await mgr.wait_connected("binance", 3)
        await venue.push(book_ticker())
        await venue.push("garbage")
        await wait_until(lambda: mgr.metrics()["exchanges"]["binance"]["parse_errors"] == 1)
        assert mgr.health()["binance"]["status"] == "healthy"
        venue.refuse = True
        venue.drop()
        await wait_until(lambda: mgr.health()["binance"]["status"] == "down")
        assert "binance#1" in mgr.health()["binance"]["reason"]
        kinds = [e.kind for e in events]
        assert kinds[:2] == ["connected", "disconnected"] and "reconnecting" in kinds
        remove()
        n = len(events)
        venue.refuse = False
        await wait_until(lambda: mgr.is_connected("binance"), timeout=3)
        assert len(events) == n  # the removed listener heard nothing more
        m = mgr.metrics()["exchanges"]["binance"]
        assert m["messages"] >= 2 and m["reconnects"] >= 1 and m["bytes"] > 0
        text = generate_latest(mgr.prometheus_registry).decode()
        assert 'marketdata_parse_errors_total{exchange="binance"} 1.0' in text
        assert 'marketdata_subscription_messages_total{channel="ticker",exchange="binance",symbol="BTC/USDT"}' in text
    finally:
        await mgr.close()


async def test_tickers_are_polled_over_rest_while_the_socket_is_down(venue: FakeVenue, rest: FakeRest) -> None:
    rest.route("/api/v3/ticker/24hr", lambda r: {
        "symbol": r.query["symbol"], "bidPrice": "9.1", "bidQty": "1", "askPrice": "9.2", "askQty": "1",
        "lastPrice": "9.15", "volume": "10", "closeTime": 1700000000000})  # fmt: skip
    fb = FallbackSettings(start_after=0.1, interval=0.1, max_requests_per_second=20)
    mgr = _manager({"binance": venue}, rest_url=rest.url, fallback=fb)
    ticks: list[Ticker] = []
    events: list = []
    mgr.add_event_listener(events.append)
    try:
        await mgr.subscribe(BTC, ticks.append)
        await mgr.wait_connected("binance", 3)
        venue.refuse = True
        venue.drop()
        await wait_until(lambda: len(ticks) >= 2, timeout=5)
        assert ticks[0].last == Decimal("9.15") and ticks[0].exchange == "binance"
        assert rest.calls[0] == "/api/v3/ticker/24hr?symbol=BTCUSDT"
        assert mgr.health()["binance"]["fallback"] is True
        venue.refuse = False
        await wait_until(lambda: "fallback_stopped" in [e.kind for e in events], timeout=5)
        calls = len(rest.calls)
        await venue.push(book_ticker())
        await wait_until(lambda: ticks[-1].last is None)  # the socket's tick again
        assert len(rest.calls) <= calls + 1
        assert "fallback_started" in [e.kind for e in events]
    finally:
        await mgr.close()


async def test_binance_book_syncs_from_rest_snapshot_and_diffs(venue: FakeVenue, rest: FakeRest) -> None:
    rest.route("/api/v3/depth", lambda r: {"lastUpdateId": 100, "bids": [["10.0", "1"], ["9.9", "2"]],
                                           "asks": [["10.2", "1"], ["10.3", "5"]]})  # fmt: skip
    mgr = _manager({"binance": venue}, rest_url=rest.url)
    updates: list = []

    def depth(first: int, last: int, bids, asks) -> str:
        return json.dumps({"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1, "s": "BTCUSDT",
                                                                    "U": first, "u": last, "b": bids, "a": asks}})

    try:
        await mgr.subscribe(Subscription("binance", "book", "BTC/USDT"), updates.append)
        await mgr.wait_connected("binance", 3)
        await venue.push(depth(95, 99, [["9.0", "1"]], []))  # stale: before the snapshot
        await wait_until(lambda: mgr.book("binance", "BTC/USDT") is not None)
        await venue.push(depth(100, 102, [["10.1", "3"]], [["10.2", "0"]]))
        await venue.push(depth(103, 103, [], [["10.25", "4"]]))
        await wait_until(lambda: len(updates) == 3)
        book = mgr.book("binance", "BTC/USDT")
        assert book.best_bid() == (Decimal("10.1"), Decimal("3"))
        assert book.best_ask() == (Decimal("10.25"), Decimal("4"))
        assert book.sequence == 103 and Decimal("9.0") not in book.bids
        assert rest.calls == ["/api/v3/depth?symbol=BTCUSDT&limit=1000"]
    finally:
        await mgr.close()


async def test_a_venue_limit_opens_another_connection(venue: FakeVenue) -> None:
    class TinyBinance(BinanceAdapter):
        limits = Limits(max_streams_per_connection=4, max_outgoing_per_second=5)

    mgr = _manager({"binance": venue}, adapters={"binance": TinyBinance()})
    try:
        for sym in ("A/USDT", "B/USDT", "C/USDT"):
            await mgr.subscribe(Subscription("binance", "ticker", sym), lambda e: None)
        assert [c.streams for c in mgr.connections("binance")] == [4, 2]
        await wait_until(lambda: venue.connections == 2 and len(venue.subscribed_params()) == 6)
    finally:
        await mgr.close()


async def test_unknown_exchange_or_channel_is_rejected() -> None:
    mgr = MarketDataManager()
    for sub in (Subscription("nope", "ticker", "BTC/USDT"), Subscription("binance", "orders", "BTC/USDT")):
        try:
            await mgr.subscribe(sub, lambda e: None)
        except (KeyError, ValueError):
            pass
        else:
            raise AssertionError(f"{sub} accepted")
    assert mgr.connections("binance") == []
    await mgr.close()


async def test_health_degrades_on_a_stream_of_bad_frames_and_rates_are_sampled(venue: FakeVenue) -> None:
    mgr = _manager({"binance": venue})
    try:
        await mgr.subscribe(BTC, lambda e: None)
        await mgr.wait_connected("binance", 3)
        for i in range(30):
            await venue.push(book_ticker(u=i))
            await venue.push("{broken")
        conn = mgr.connections("binance")[0]
        await wait_until(lambda: conn.stats.error_rate > 1, timeout=3)
        health = mgr.health()["binance"]
        assert health["status"] == "degraded" and "bad frames/s" in health["reason"]
        await wait_until(lambda: mgr.metrics()["subscriptions"][0]["messages_per_s"] > 0, timeout=3)
    finally:
        await mgr.close()


async def test_a_venue_code_speaking_another_venues_protocol_keeps_its_own_name(venue: FakeVenue) -> None:
    endpoints = {"simulator": Endpoint(ws=venue.url, rest="http://127.0.0.1:9")}
    mgr = MarketDataManager(endpoints=endpoints, settings=FAST, adapters={"simulator": BinanceAdapter()},
                            fallback=FallbackSettings(enabled=False))  # fmt: skip
    got: list = []
    try:
        await mgr.subscribe(Subscription("simulator", "ticker", "BTC/USDT"), got.append)
        await mgr.wait_connected("simulator", 3)
        await venue.push(book_ticker())
        await wait_until(lambda: got)
        assert (got[0].exchange, got[0].symbol) == ("simulator", "BTC/USDT")
    finally:
        await mgr.close()


async def test_a_venue_down_from_the_start_is_served_over_rest(venue: FakeVenue, rest: FakeRest) -> None:
    rest.route("/api/v3/ticker/24hr", lambda r: {
        "symbol": "BTCUSDT", "bidPrice": "7.1", "bidQty": "1", "askPrice": "7.2", "askQty": "1",
        "lastPrice": "7.15", "volume": "10"})  # fmt: skip
    venue.refuse = True
    fb = FallbackSettings(start_after=0.1, interval=0.1, max_requests_per_second=20)
    mgr = _manager({"binance": venue}, rest_url=rest.url, fallback=fb)
    ticks: list = []
    try:
        await mgr.subscribe(BTC, ticks.append)
        await wait_until(lambda: ticks, timeout=5)
        assert ticks[0].last == Decimal("7.15") and ticks[0].exchange_time is None
        assert mgr.health()["binance"]["status"] == "down" and "REST polling" in mgr.health()["binance"]["reason"]
    finally:
        await mgr.close()


async def test_rest_polling_never_exceeds_its_request_rate(venue: FakeVenue, rest: FakeRest) -> None:
    rest.route("/api/v3/ticker/24hr", lambda r: {
        "symbol": r.query["symbol"], "bidPrice": "7.1", "bidQty": "1", "askPrice": "7.2", "askQty": "1",
        "lastPrice": "7.15", "volume": "10"})  # fmt: skip
    venue.refuse = True
    fb = FallbackSettings(start_after=0.0, interval=0.0, max_requests_per_second=5)
    mgr = _manager({"binance": venue}, rest_url=rest.url, fallback=fb)
    try:
        for sym in ("BTC/USDT", "ETH/USDT", "SOL/USDT"):
            await mgr.subscribe(Subscription("binance", "ticker", sym), lambda e: None)
        await wait_until(lambda: rest.calls, timeout=5)
        first = len(rest.calls)
        await asyncio.sleep(1.0)
        assert len(rest.calls) - first <= 6  # 5/s, one of slack for timer edges
        assert {c.split("=")[1] for c in rest.calls} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    finally:
        await mgr.close()
