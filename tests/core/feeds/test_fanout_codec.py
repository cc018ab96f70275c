"""The fan-out wire format keeps every Decimal exact and every field; junk is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketdata.fanout import channel_name, decode, encode, parse_channel
from marketdata.feeds.types import BookUpdate, Subscription, Ticker, Trade


def test_a_ticker_and_a_trade_survive_the_round_trip_exactly():
    ticker = Ticker("binance", "BTC/USDT", Decimal("64000.123456789012345678"), Decimal("64000.2"), None,
                    Decimal("0.5"), None, Decimal("1234.5"), datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC), 17)
    trade = Trade("kraken", "ETH/USD", "t-9", Decimal("3000.01"), Decimal("0.000000001"), "sell", None, 42)
    assert decode(encode(ticker)) == ticker
    assert decode(encode(trade)) == trade


def test_books_are_not_fanned_out_and_malformed_payloads_raise():
    assert encode(BookUpdate("binance", "BTC/USDT", [], [], 1, None, 0)) is None
    for junk in (b"", b"[]", b'["X", 1]', b'["T", "binance"]'):
        with pytest.raises(Exception):  # noqa: B017 (any error: the reader counts and skips it)
            decode(junk)


def test_channel_names_round_trip_and_foreign_prefixes_are_ignored():
    sub = Subscription("binance", "ticker", "BTC/USDT")
    assert parse_channel("md", channel_name("md", sub)) == sub
    assert parse_channel("other", channel_name("md", sub)) is None
