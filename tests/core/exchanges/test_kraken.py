"""Kraken v2 frames parse exactly (numbers keep their printed digits) and book checksums verify."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.kraken.parse import book_checksum
from marketdata.feeds.types import BookSnapshot, BookUpdate, Subscription, Ticker

from .conftest import RECEIVE_NS, Collector, lines


def test_every_recorded_v2_frame_parses_and_only_the_venue_error_is_counted(kraken: Collector) -> None:
    errors = []
    for relative in ("book.jsonl", "doc_examples.jsonl", "heartbeat.jsonl", "method_responses.jsonl",
                     "status.jsonl", "ticker.jsonl"):  # fmt: skip
        for line in lines(f"kraken_v2/{relative}"):
            try:
                kraken.feed(line)
            except ParseError as exc:
                errors.append(str(exc))
    assert errors == ["venue error 'Currency pair not supported NOPE/USD'"]
    assert kraken.session.checksum_failures == 0


def test_both_recorded_book_checksums_verify(kraken: Collector) -> None:
    snapshot_line, update_line = lines("kraken_v2/book.jsonl")
    (snap,) = kraken.feed(snapshot_line)
    assert isinstance(snap, BookSnapshot)
    book = kraken.session.books["ETH/USD"]
    assert book_checksum(book) == 2606672715
    assert snap.asks[3] == (Decimal("1797.30"), Decimal("139.09783403"))
    assert str(snap.bids[8][1]) == "4.21870000"  # trailing zeros kept: they are in the checksum
    (update,) = kraken.feed(update_line)
    assert update == BookUpdate(
        "kraken", "ETH/USD", [], [(Decimal("1797.29"), Decimal("0E-8")), (Decimal("1797.52"), Decimal("1.56601318"))],
        None, datetime(2025, 5, 6, 9, 17, 26, 208075, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip
    assert book_checksum(book) == 3329440863
    assert len(book.asks) == 10 and Decimal("1797.29") not in book.asks  # trimmed to depth 10


def test_the_documentation_example_checksum_verifies(kraken: Collector) -> None:
    (snap,) = kraken.feed(lines("kraken_v2/doc_examples.jsonl")[0])
    assert book_checksum(kraken.session.books["BTC/USD"]) == 3310070434
    assert snap.bids[0] == (Decimal("45283.5"), Decimal("0.10000000"))


def test_a_checksum_mismatch_drops_the_book_and_resubscribes(kraken: Collector) -> None:
    snapshot_line, update_line = lines("kraken_v2/book.jsonl")
    kraken.feed(snapshot_line)
    assert kraken.feed(update_line.replace("3329440863", "12345")) == []
    (action,) = kraken.session.take_actions()
    assert action.kind == "resubscribe" and action.symbol == "ETH/USD"
    unsub, sub = (json.loads(f) for f in action.frames)
    assert unsub["method"] == "unsubscribe" and sub["method"] == "subscribe"
    assert sub["params"] == {"channel": "book", "symbol": ["ETH/USD"], "depth": 10}
    assert not kraken.session.books["ETH/USD"].synced
    assert kraken.feed(update_line) == []  # ignored until the new snapshot
    kraken.feed(snapshot_line)
    assert kraken.resynced == [("ETH/USD", "checksum mismatch (expected 12345)")]


def test_ticker_keeps_printed_digits(kraken: Collector) -> None:
    (tick,) = kraken.feed(lines("kraken_v2/ticker.jsonl")[0])
    assert tick == Ticker(
        "kraken", "USDT/USD", Decimal("0.99980"), Decimal("0.99981"), Decimal("0.99981"), Decimal("44620.68691883"),
        Decimal("1087605.70466858"), Decimal("270638277.50461281"),
        datetime(2026, 9, 24, 3, 54, 18, 54886, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip
    assert str(tick.bid) == "0.99980"


def test_trade_and_ohlc_from_the_v2_documentation(kraken: Collector) -> None:
    (trade,) = kraken.feed(
        '{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"buy","price":0.5117,'
        '"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}'
    )
    assert (trade.trade_id, trade.price, trade.quantity, trade.side) == (
        "4665906", Decimal("0.5117"), Decimal("40.0"), "buy",
    )  # fmt: skip
    (candle,) = kraken.feed(
        '{"channel":"ohlc","type":"update","timestamp":"2023-10-04T16:26:30.524394914Z","data":[{"symbol":"MATIC/USD",'
        '"open":0.5624,"high":0.5628,"low":0.5622,"close":0.5627,"trades":12,"volume":30927.68066226,"vwap":0.5626,'
        '"interval_begin":"2023-10-04T16:25:00.000000000Z","interval":5,"timestamp":"2023-10-04T16:30:00.000000Z"}]}'
    )
    assert (candle.interval, candle.open_time, candle.close) == (
        "5m", datetime(2023, 10, 4, 16, 25, tzinfo=UTC), Decimal("0.5627"),
    )  # fmt: skip


@pytest.mark.parametrize("frame", ['{"channel":"ticker","data":[{"symbol":"X/Y","bid":NaN,"ask":1}]}',
                                   '{"channel":"ticker","data":[{"symbol":"X/Y","bid":"1","ask":1}]}'])
def test_nan_and_string_numbers_are_rejected(kraken: Collector, frame: str) -> None:
    with pytest.raises(ParseError):
        kraken.feed(frame)


def test_subscribe_frames() -> None:
    from marketdata.exchanges.kraken import KrakenAdapter

    adapter = KrakenAdapter()
    (frame,) = adapter.subscribe_frames([Subscription("kraken", "ticker", "BTC/USD")])
    assert json.loads(frame)["params"] == {"channel": "ticker", "symbol": ["BTC/USD"], "event_trigger": "bbo"}
    assert json.loads(adapter.app_ping_frame())["method"] == "ping"
