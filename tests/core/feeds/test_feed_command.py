"""``manage.py feed`` prints normalised events as JSON lines with exact Decimal strings."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from django.core.management import CommandError, call_command

from .fakes import FakeVenue, book_ticker, trade, wait_until


async def test_feed_prints_json_lines_with_exchange_symbol_channel_and_decimal_strings(venue: FakeVenue) -> None:
    out = io.StringIO()
    command = asyncio.create_task(asyncio.to_thread(
        call_command, "feed", exchange="binance", symbols="BTC/USDT", channels="ticker,trades", url=venue.url,
        rest_url="http://127.0.0.1:9", limit=2, stdout=out, stderr=io.StringIO(),
    ))  # fmt: skip
    await wait_until(lambda: len(venue.subscribed_params()) == 3, timeout=10)
    await venue.push(book_ticker(bid="64000.10000000"))
    await venue.push(trade(price="64000.15"))
    await asyncio.wait_for(command, 10)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["exchange"], r["symbol"], r["channel"], r["type"]) for r in rows] == [
        ("binance", "BTC/USDT", "ticker", "Ticker"), ("binance", "BTC/USDT", "trades", "Trade"),
    ]  # fmt: skip
    assert rows[0]["bid"] == "64000.10000000" and rows[0]["ask_size"] == "2"
    assert rows[1]["price"] == "64000.15" and rows[1]["side"] == "buy"
    assert set(rows[1]) >= {"trade_id", "quantity", "exchange_time", "receive_ns"}


def test_feed_rejects_an_unknown_channel() -> None:
    with pytest.raises(CommandError, match="unknown channel"):
        call_command("feed", exchange="binance", symbols="BTC/USDT", channels="orders")
