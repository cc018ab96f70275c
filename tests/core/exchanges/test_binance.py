"""Binance spot frames from the recordings parse to exact values; depth diffs + REST snapshots sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.binance.parse import split_symbol
from marketdata.feeds.types import BookSnapshot, BookUpdate, Candle, Subscription, Ticker, Trade

from .conftest import RECEIVE_NS, Collector, lines


@pytest.mark.parametrize(
    "relative",
    [
        "binance/book_ticker.jsonl",
        "binance/agg_trade.jsonl",
        "binance/kline_1m.jsonl",
        "binance/depth_diff_100ms.jsonl",
        "binance_testnet/book_ticker.jsonl",
        "binance_testnet/trade.jsonl",
        "binance_testnet/depth_diff_100ms.jsonl",
    ],
)
def test_every_recorded_binance_frame_parses_without_error(binance: Collector, relative: str) -> None:
    for line in lines(relative):
        binance.feed(line)  # raises ParseError on any failure
    if "depth" not in relative:  # depth events wait for their REST snapshot
        assert len(binance.events) == len(lines(relative))


def test_book_ticker_keeps_exact_decimals_and_unified_symbol(binance: Collector) -> None:
    (tick,) = binance.feed(lines("binance/book_ticker.jsonl")[0])
    assert tick == Ticker(
        "binance", "SWRV/BUSD", Decimal("2.27200000"), Decimal("2.27700000"), None,
        Decimal("218.40800000"), Decimal("1.19200000"), None, None, RECEIVE_NS,
    )  # fmt: skip
    assert str(tick.bid) == "2.27200000"


def test_book_ticker_merges_last_price_and_volume_from_the_24h_ticker(binance: Collector) -> None:
    binance.feed(
        '{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1672515782136,"s":"BTCUSDT","c":"16800.10",'
        '"v":"1234.5","b":"16800.00","B":"1.0","a":"16800.20","A":"2.0"}}'
    )
    (tick,) = binance.feed(
        '{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"16800.05","B":"3","a":"16800.15","A":"4"}}'
    )
    assert (tick.symbol, tick.bid, tick.ask, tick.last, tick.volume_24h) == (
        "BTC/USDT", Decimal("16800.05"), Decimal("16800.15"), Decimal("16800.10"), Decimal("1234.5"),
    )  # fmt: skip


def test_agg_trade_has_taker_side_id_and_exchange_time(binance: Collector) -> None:
    (trade,) = binance.feed(lines("binance/agg_trade.jsonl")[0])
    assert trade == Trade(
        "binance", "SWRV/BUSD", "749094", Decimal("2.27600000"), Decimal("21.96300000"), "buy",
        datetime(2021, 4, 17, 16, 36, 13, 912000, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip
    (second,) = binance.feed(lines("binance/agg_trade.jsonl")[1])
    assert second.side == "sell"  # "m": true -> the buyer was the maker, the taker sold


def test_testnet_trade_uses_the_trade_id(binance: Collector) -> None:
    (trade,) = binance.feed(lines("binance_testnet/trade.jsonl")[0])
    assert (trade.symbol, trade.trade_id, trade.price, trade.quantity) == (
        "BTC/USDT", "388510", Decimal("76745.19000000"), Decimal("0.00065000"),
    )  # fmt: skip
    assert trade.exchange_time == datetime(2026, 9, 13, 10, 25, 34, 225000, tzinfo=UTC)


def test_kline_becomes_an_open_candle(binance: Collector) -> None:
    (candle,) = binance.feed(lines("binance/kline_1m.jsonl")[0])
    assert candle == Candle(
        "binance", "SWRV/BUSD", "1m", datetime(2021, 4, 17, 16, 36, tzinfo=UTC), Decimal("2.27700000"),
        Decimal("2.27700000"), Decimal("2.27700000"), Decimal("2.27700000"), Decimal("9.82600000"), False,
        datetime(2021, 4, 17, 16, 36, 13, 907000, tzinfo=UTC), RECEIVE_NS,
    )  # fmt: skip


def test_symbols_map_both_ways() -> None:
    from marketdata.exchanges.binance import BinanceAdapter

    adapter = BinanceAdapter()
    assert adapter.to_venue("BTC/USDT") == "BTCUSDT"
    assert [split_symbol(s) for s in ("BTCUSDT", "BUSDTRY", "VETETH", "AAVEUPUSDT", "ADARUB")] == [
        "BTC/USDT", "BUSD/TRY", "VET/ETH", "AAVEUP/USDT", "ADA/RUB",
    ]  # fmt: skip
    frame = json.loads(adapter.subscribe_frames([Subscription("binance", "ticker", "BTC/USDT")])[0])
    assert frame["method"] == "SUBSCRIBE"
    assert frame["params"] == ["btcusdt@bookTicker", "btcusdt@ticker"]


# --- depth synchronisation -------------------------------------------------------------------


def _depth_by_symbol() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in lines("binance/depth_diff_100ms.jsonl"):
        out.setdefault(orjson.loads(line)["data"]["s"], []).append(line)
    return out


def _snapshots() -> list[str]:
    return lines("binance/rest_depth_snapshot.jsonl")


def test_recorded_depth_streams_are_contiguous_per_symbol() -> None:
    for symbol, frames in _depth_by_symbol().items():
        events = [orjson.loads(f)["data"] for f in frames]
        for prev, nxt in zip(events, events[1:], strict=False):
            assert nxt["U"] == prev["u"] + 1, symbol


def test_every_recorded_snapshot_syncs_with_its_depth_stream() -> None:
    by_symbol = _depth_by_symbol()
    synced = 0
    for raw in _snapshots():
        last_id = orjson.loads(raw)["lastUpdateId"]
        # The snapshot belongs to the stream whose events straddle lastUpdateId + 1.
        venue = next(
            s for s, fs in by_symbol.items()
            if any(orjson.loads(f)["data"]["U"] <= last_id + 1 <= orjson.loads(f)["data"]["u"] for f in fs)
        )  # fmt: skip
        c = Collector("binance")
        frames = by_symbol[venue]
        c.feed(frames[0])
        actions = c.session.take_actions()
        assert [(a.kind, a.reason) for a in actions] == [("snapshot", "initial snapshot")]
        symbol = actions[0].symbol
        c.session.apply_snapshot(symbol, raw.encode(), RECEIVE_NS)
        for frame in frames[1:]:
            c.feed(frame)
        assert c.session.take_actions() == []  # no gap, no second snapshot
        assert c.session.resyncs == 0
        book = c.session.books[symbol]
        last = orjson.loads(frames[-1])["data"]["u"]
        assert book.synced and book.sequence == max(last, last_id)
        assert not book.is_crossed()
        snapshots = [e for e in c.events if isinstance(e, BookSnapshot)]
        updates = [e for e in c.events if isinstance(e, BookUpdate)]
        assert len(snapshots) == 1 and snapshots[0].sequence == last_id
        # exactly the events after the snapshot are applied, in order, with no gap between them
        applied = [orjson.loads(f)["data"] for f in frames if orjson.loads(f)["data"]["u"] > last_id]
        assert [u.sequence for u in updates] == [d["u"] for d in applied]
        if applied:
            assert applied[0]["U"] <= last_id + 1 <= applied[0]["u"]
        synced += 1
    assert synced == 18


def test_a_missing_depth_event_drops_the_book_and_fetches_a_new_snapshot() -> None:
    frames = _depth_by_symbol()["SWRVBUSD"]
    raw = next(s for s in _snapshots() if orjson.loads(s)["lastUpdateId"] == 64830111)
    c = Collector("binance")
    c.feed(frames[0])
    c.session.take_actions()
    c.session.apply_snapshot("SWRV/BUSD", raw.encode(), RECEIVE_NS)
    kept = [f for f in frames if orjson.loads(f)["data"]["u"] > 64830111]
    c.feed(kept[0])
    c.feed(kept[2])  # kept[1] lost
    (action,) = c.session.take_actions()
    assert action.kind == "snapshot" and action.reason == "gap"
    assert not c.session.books["SWRV/BUSD"].synced
    assert c.session.resyncs == 1
    # A fresh snapshot covering the buffered event brings the book back and reports the resync.
    fresh = {"lastUpdateId": orjson.loads(kept[2])["data"]["U"] - 1, "bids": [["2.27", "1"]], "asks": [["2.28", "1"]]}
    c.session.apply_snapshot("SWRV/BUSD", orjson.dumps(fresh), RECEIVE_NS)
    assert c.session.books["SWRV/BUSD"].synced
    assert c.resynced and c.resynced[0][0] == "SWRV/BUSD"


def test_a_snapshot_older_than_the_buffered_stream_is_refetched() -> None:
    frames = _depth_by_symbol()["SWRVBUSD"]
    c = Collector("binance")
    for f in frames[5:8]:
        c.feed(f)
    c.session.take_actions()
    old = {"lastUpdateId": orjson.loads(frames[0])["data"]["U"] - 10, "bids": [], "asks": []}
    c.session.apply_snapshot("SWRV/BUSD", orjson.dumps(old), RECEIVE_NS)
    (action,) = c.session.take_actions()
    assert action.kind == "snapshot" and "older" in action.reason
    assert not any(isinstance(e, BookSnapshot) for e in c.events)


def test_the_recorded_session_replays_with_its_rest_snapshots() -> None:
    c = Collector("binance")
    errors = 0
    for line in lines("binance/sessions/cryptofeed_BINANCE_HEAD.jsonl"):
        rec = json.loads(line)
        if rec["dir"] == "in":
            try:
                c.feed(rec["raw"])
            except ParseError:
                errors += 1
        elif rec["dir"] == "rest":
            venue = rec["url"].split("symbol=")[1].split("&")[0]
            c.session.apply_snapshot(split_symbol(venue), rec["raw"].encode(), RECEIVE_NS)
    assert errors == 0
    assert c.session.resyncs == 0
    synced = {s for s, b in c.session.books.items() if b.synced}
    assert synced == {"NKN/USDT", "BLZ/ETH", "LRC/BTC", "RUNE/EUR"}
