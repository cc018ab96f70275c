"""Binance spot stream names and payloads, shaped exactly as stream.binance.com sends them."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..model import Candle, Market, Trade
from ..wire import fixed

INTERVALS_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
    "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
    "12h": 43_200_000, "1d": 86_400_000,
}

_STREAM = re.compile(
    r"^(?P<sym>[a-z0-9]+)@(?P<kind>bookTicker|ticker|miniTicker|trade|aggTrade"
    r"|depth(?:5|10|20)?(?:@100ms|@1000ms)?|kline_(?:1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d))$"
)


def parse_stream(name: str) -> tuple[str, str] | None:
    """``("btcusdt", "depth@100ms")`` for a valid stream name, else None."""
    match = _STREAM.match(name)
    if match is None:
        return None
    return match["sym"], match["kind"]


def px(value: Decimal) -> str:
    """Binance prints every price and quantity with 8 decimals."""
    return fixed(value, 8)


def book_ticker(market: Market) -> dict[str, Any]:
    """``<sym>@bookTicker`` (no event type or time, as Binance sends it)."""
    bid, bid_qty = market.best_bid()
    ask, ask_qty = market.best_ask()
    return {"u": market.update_id, "s": market.spec.venue_id, "b": px(bid), "B": px(bid_qty),
            "a": px(ask), "A": px(ask_qty)}


def depth_update(market: Market, first: int, last: int, changes: dict[tuple[str, Decimal], Decimal],
                 ms: int) -> dict[str, Any]:
    """``<sym>@depth[@100ms]`` diff with its ``U``/``u`` update-id range."""
    bids = [[px(p), px(q)] for (side, p), q in sorted(changes.items(), reverse=True) if side == "bid"]
    asks = [[px(p), px(q)] for (side, p), q in sorted(changes.items()) if side == "ask"]
    return {"e": "depthUpdate", "E": ms, "s": market.spec.venue_id, "U": first, "u": last,
            "b": bids, "a": asks}


def partial_depth(market: Market, levels: int) -> dict[str, Any]:
    """``<sym>@depth<levels>`` partial book (spot shape: no event type)."""
    return {"lastUpdateId": market.update_id,
            "bids": [[px(p), px(q)] for p, q in market.top("bid", levels)],
            "asks": [[px(p), px(q)] for p, q in market.top("ask", levels)]}


def trade(market: Market, t: Trade, ms: int) -> dict[str, Any]:
    """``<sym>@trade``; ``m`` is true when the buyer was the maker (a sell took the bid)."""
    return {"e": "trade", "E": ms, "s": market.spec.venue_id, "t": t.id, "p": px(t.price),
            "q": px(t.qty), "T": t.time_ns // 1_000_000, "m": t.side == "sell", "M": True}


def agg_trade(market: Market, t: Trade, ms: int) -> dict[str, Any]:
    """``<sym>@aggTrade`` (one trade per aggregate here)."""
    return {"e": "aggTrade", "E": ms, "s": market.spec.venue_id, "a": t.id, "p": px(t.price),
            "q": px(t.qty), "f": t.id, "l": t.id, "T": t.time_ns // 1_000_000,
            "m": t.side == "sell", "M": True}


def ticker_24h(market: Market, ms: int) -> dict[str, Any]:
    """``<sym>@ticker`` rolling 24h statistics."""
    stats = market.stats()
    last = market.last_trade
    price = last.price if last else market.price
    bid, bid_qty = market.best_bid()
    ask, ask_qty = market.best_ask()
    change = price - stats.open
    pct = (change / stats.open * 100).quantize(Decimal("0.001")) if stats.open else Decimal(0)
    wavg = stats.quote_volume / stats.volume if stats.volume else price
    return {
        "e": "24hrTicker", "E": ms, "s": market.spec.venue_id, "p": px(change), "P": f"{pct:f}",
        "w": px(wavg), "x": px(stats.open), "c": px(price), "Q": px(last.qty if last else Decimal(0)),
        "b": px(bid), "B": px(bid_qty), "a": px(ask), "A": px(ask_qty), "o": px(stats.open),
        "h": px(stats.high), "l": px(stats.low), "v": px(stats.volume), "q": px(stats.quote_volume),
        "O": ms - 86_400_000, "C": ms, "F": stats.first_trade_id, "L": market.next_trade_id - 1,
        "n": stats.count,
    }


def mini_ticker(market: Market, ms: int) -> dict[str, Any]:
    """``<sym>@miniTicker``."""
    stats = market.stats()
    price = market.last_trade.price if market.last_trade else market.price
    return {"e": "24hrMiniTicker", "E": ms, "s": market.spec.venue_id, "c": px(price),
            "o": px(stats.open), "h": px(stats.high), "l": px(stats.low), "v": px(stats.volume),
            "q": px(stats.quote_volume)}


def kline(market: Market, interval: str, ms: int, bar: Candle | None = None, closed: bool = False) -> dict[str, Any]:
    """``<sym>@kline_<interval>`` for the current (or a given, closed) bar."""
    span = INTERVALS_MS[interval]
    bar = bar or market.current_bar(span)
    return {"e": "kline", "E": ms, "s": market.spec.venue_id, "k": {
        "t": bar.open_ms, "T": bar.open_ms + span - 1, "s": market.spec.venue_id, "i": interval,
        "f": market.next_trade_id - bar.trades, "L": market.next_trade_id - 1, "o": px(bar.open),
        "c": px(bar.close), "h": px(bar.high), "l": px(bar.low), "v": px(bar.volume), "n": bar.trades,
        "x": closed, "q": px(bar.quote_volume), "V": px(bar.volume / 2), "Q": px(bar.quote_volume / 2),
        "B": "0"}}


def kline_row(bar: Candle, span: int) -> list[Any]:
    """One REST ``/api/v3/klines`` row."""
    return [bar.open_ms, px(bar.open), px(bar.high), px(bar.low), px(bar.close), px(bar.volume),
            bar.open_ms + span - 1, px(bar.quote_volume), bar.trades, px(bar.volume / 2),
            px(bar.quote_volume / 2), "0"]
