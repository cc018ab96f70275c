"""Coinbase Advanced Trade frames parse exactly; a sequence gap resyncs the connection's books."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from marketdata.exchanges.base import ParseError
from marketdata.feeds.types import BookSnapshot, BookUpdate, Subscription, Ticker, Trade

from .conftest import RECEIVE_NS, Collector, lines


def _snapshot(product: str, seq: int, bids=(("1", "1"),), asks=(("999999", "1"),)) -> str:
    when = "2026-09-30T02:39:53Z"
    updates = [{"side": "bid", "event_time": when, "price_level": p, "new_quantity": q} for p, q in bids]
    updates += [{"side": "offer", "event_time": when, "price_level": p, "new_quantity": q} for p, q in asks]
    return orjson.dumps(
        {"channel": "l2_data", "timestamp": "2026-09-30T02:39:53.6Z", "sequence_num": seq,
         "events": [{"type": "snapshot", "product_id": product, "updates": updates}]}
    ).decode()  # fmt: skip


def test_every_recorded_advanced_trade_frame_parses_without_error(coinbase: Collector) -> None:
    for relative in ("l2_data.jsonl", "market_trades.jsonl", "heartbeats.jsonl", "subscriptions.jsonl"):
        for line in lines(f"coinbase_advanced/{relative}"):
            coinbase.feed(line)
    for line in lines("coinbase_advanced/sessions/fastmm_advanced_md_stream_excerpt.jsonl"):
        coinbase.feed(json.loads(line)["raw"])


def test_level2_updates_apply_offers_as_asks_and_zero_deletes(coinbase: Collector) -> None:
    coinbase.feed(_snapshot("BTC-USD", 0, bids=(("72867.6", "5"), ("83242.46", "1")), asks=(("83328.01", "2"),)))
    (update,) = coinbase.feed(lines("coinbase_advanced/l2_data.jsonl")[0])
    assert update == BookUpdate(
        "coinbase", "BTC/USD", [(Decimal("72867.6"), Decimal("0"))], [(Decimal("83328.01"), Decimal("0"))], 1,
        datetime(2026, 9, 30, 2, 39, 53, 495541, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip
    book = coinbase.session.books["BTC/USD"]
    assert list(book.bids.items()) == [(Decimal("83242.46"), Decimal("1"))]
    assert not book.asks
    (second,) = coinbase.feed(lines("coinbase_advanced/l2_data.jsonl")[1])
    assert book.best_bid() == (Decimal("83193.97"), Decimal("0.0601005"))
    third = coinbase.feed(lines("coinbase_advanced/l2_data.jsonl")[2])[0]
    assert len(third.bids) == 4 and len(third.asks) == 4
    assert book.best_ask() == (Decimal("83328.02"), Decimal("0.02401664"))


def test_market_trades_parse_exactly(coinbase: Collector) -> None:
    (trade,) = coinbase.feed(lines("coinbase_advanced/market_trades.jsonl")[0])
    assert trade == Trade(
        "coinbase", "ETH/USD", "846155167", Decimal("2667.2"), Decimal("0.84275842"), "sell",
        datetime(2026, 9, 30, 2, 39, 59, 410400, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip


def test_ticker_takes_best_bid_and_ask(coinbase: Collector) -> None:
    frame = {
        "channel": "ticker", "client_id": "", "timestamp": "2023-02-09T20:30:37.167359596Z", "sequence_num": 0,
        "events": [{"type": "snapshot", "tickers": [{
            "type": "ticker", "product_id": "BTC-USD", "price": "21932.98", "volume_24_h": "16038.28770938",
            "low_24_h": "21835.29", "high_24_h": "23011.18", "best_bid": "21931.98", "best_bid_quantity": "8000.21",
            "best_ask": "21933.98", "best_ask_quantity": "8038.07770938",
        }]}],
    }  # fmt: skip
    (tick,) = coinbase.feed(orjson.dumps(frame).decode())
    assert tick == Ticker(
        "coinbase", "BTC/USD", Decimal("21931.98"), Decimal("21933.98"), Decimal("21932.98"), Decimal("8000.21"),
        Decimal("8038.07770938"), Decimal("16038.28770938"),
        datetime(2023, 2, 9, 20, 30, 37, 167359, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip


def test_a_sequence_gap_resyncs_every_book_of_the_connection(coinbase: Collector) -> None:
    coinbase.feed(_snapshot("BTC-USD", 0))
    coinbase.feed(_snapshot("ETH-USD", 1))
    rows = lines("coinbase_advanced/l2_data.jsonl")
    coinbase.feed(rows[1])  # sequence 2 follows 1
    assert coinbase.session.take_actions() == []
    coinbase.feed(rows[4])  # sequence 6: 3..5 were lost
    actions = coinbase.session.take_actions()
    assert sorted(a.symbol for a in actions) == ["BTC/USD", "ETH/USD"]
    for action in actions:
        unsub, sub = (json.loads(f) for f in action.frames)
        assert unsub["type"] == "unsubscribe" and sub["type"] == "subscribe" and sub["channel"] == "level2"
    assert not coinbase.session.books["BTC/USD"].synced
    # updates are ignored until the new snapshot, which reports the resync
    assert coinbase.feed(rows[3].replace('"sequence_num":4', '"sequence_num":7')) == []
    (snap,) = coinbase.feed(_snapshot("BTC-USD", 8))
    assert isinstance(snap, BookSnapshot)
    assert [s for s, _ in coinbase.resynced] == ["BTC/USD"]


def test_subscribe_frames_use_venue_channel_names() -> None:
    from marketdata.exchanges.coinbase import CoinbaseAdapter

    adapter = CoinbaseAdapter()
    frames = [json.loads(f) for f in adapter.subscribe_frames(
        [Subscription("coinbase", "book", "BTC/USD"), Subscription("coinbase", "trades", "ETH/USD")]
    )]  # fmt: skip
    assert frames == [
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["ETH-USD"], "channel": "market_trades"},
    ]
    assert json.loads(adapter.on_connect_frames()[0]) == {"type": "subscribe", "channel": "heartbeats"}
    assert adapter.limits.max_frame_bytes > 3 * 1024 * 1024  # full BTC-USD snapshots are ~3 MB


def test_an_error_frame_is_a_parse_error(coinbase: Collector) -> None:
    try:
        coinbase.feed('{"type":"error","message":"failure to subscribe"}')
    except ParseError as exc:
        assert "failure to subscribe" in str(exc)
    else:
        raise AssertionError("expected ParseError")
