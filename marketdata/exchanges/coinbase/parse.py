"""Coinbase Advanced Trade frames -> normalised events.

``sequence_num`` is one counter per connection over every channel: a gap means a lost message,
possibly a book update, so every book of the connection is resynced (unsubscribe + subscribe
``level2`` brings a fresh snapshot); updates for a book awaiting its snapshot are dropped.
Asks are labelled ``offer``; ``new_quantity`` is absolute and ``"0"`` deletes the level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson

from marketdata.exchanges.base import EPOCH, Action, ChannelHandler, ParseError, SessionBase, iso_to_dt, wire_decimal
from marketdata.feeds.book import OrderBook
from marketdata.feeds.types import BookSnapshot, BookUpdate, Candle, Side, Subscription, Ticker, Trade

IGNORED = frozenset({"heartbeats", "subscriptions", "status"})


_d = wire_decimal


def optional_decimal(text: Any) -> Decimal | None:
    """A wire decimal, or None for an absent or empty field."""
    return None if text is None or text == "" else _d(text)


_od = optional_decimal


@dataclass(slots=True)
class CoinbaseSession(SessionBase):
    """Parse state of one Coinbase connection."""

    symbols: dict[str, str] = field(default_factory=dict)  # BTC-USD -> BTC/USD
    last_sequence: int | None = None
    gaps: int = 0
    adapter: Any = None

    def add(self, sub: Subscription, venue_symbol: str) -> None:
        """Know a subscribed product."""
        self.symbols[venue_symbol] = sub.symbol

    def _sym(self, venue: Any) -> str:
        sym = self.symbols.get(venue)
        if sym is None:
            if type(venue) is not str:
                raise ParseError("missing product_id")
            sym = self.symbols[venue] = venue.replace("-", "/")
        return sym

    def feed(self, frame: str | bytes, receive_ns: int) -> None:
        """Parse one frame; events go to ``emit``."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise ParseError("not JSON") from exc
        if type(msg) is not dict:
            raise ParseError("not an object")
        seq = msg.get("sequence_num")
        if seq is not None:
            self._check_sequence(seq)
        channel = msg.get("channel")
        if self.by_channel(msg, channel, HANDLERS, IGNORED, receive_ns):
            return
        if msg.get("type") == "error":
            raise ParseError(f"venue error {msg.get('message')!r}")
        raise ParseError(f"unknown channel {channel!r}")

    def _check_sequence(self, seq: Any) -> None:
        if type(seq) is not int:
            raise ParseError("bad sequence_num")
        last = self.last_sequence
        self.last_sequence = seq
        if last is not None and seq != last + 1 and seq > last:
            self.gaps += 1
            for sym, book in self.books.items():
                if sym not in self.resyncing:
                    self._resync(sym, book, f"sequence gap: expected {last + 1}, got {seq}")

    def _resync(self, sym: str, book: OrderBook, reason: str) -> None:
        self.resyncs += 1
        self.resyncing[sym] = reason
        book.clear()
        sub = [Subscription("coinbase", "book", sym)]
        frames = (*self.adapter.unsubscribe_frames(sub), *self.adapter.subscribe_frames(sub))
        self.actions.append(Action("resubscribe", sym, reason, frames))

    def _level2(self, msg: dict, receive_ns: int) -> None:
        for ev in msg["events"]:
            sym = self._sym(ev["product_id"])
            kind = ev["type"]
            bids: list[tuple[Decimal, Decimal]] = []
            asks: list[tuple[Decimal, Decimal]] = []
            event_time = None
            for u in ev["updates"]:
                level = (_d(u["price_level"]), _d(u["new_quantity"]))
                side = u["side"]
                if side == "bid":
                    bids.append(level)
                elif side == "offer" or side == "ask":
                    asks.append(level)
                else:
                    raise ParseError(f"unknown side {side!r}")
                if event_time is None:
                    event_time = u.get("event_time")
            when = iso_to_dt(event_time or msg["timestamp"])
            book = self.books.get(sym)
            if kind == "snapshot":
                if book is None:
                    book = self.books[sym] = OrderBook(self.exchange, sym)
                book.apply_snapshot(bids, asks, msg.get("sequence_num"))
                top_bids, top_asks = book.top(len(book))
                self.emit(BookSnapshot(self.exchange, sym, top_bids, top_asks, book.sequence, when, receive_ns))
                reason = self.resyncing.pop(sym, None)
                if reason is not None and self.on_resynced is not None:
                    self.on_resynced(sym, reason)
            elif kind == "update":
                if book is None or not book.synced:
                    continue  # awaiting a snapshot
                book.apply_update(bids, asks, msg.get("sequence_num"))
                self.emit(BookUpdate(self.exchange, sym, bids, asks, book.sequence, when, receive_ns))
            else:
                raise ParseError(f"unknown l2 event {kind!r}")

    def _ticker(self, msg: dict, receive_ns: int) -> None:
        when = iso_to_dt(msg["timestamp"])
        for ev in msg["events"]:
            for t in ev["tickers"]:
                self.emit(
                    Ticker(
                        self.exchange, self._sym(t["product_id"]), _od(t.get("best_bid")), _od(t.get("best_ask")),
                        _d(t["price"]), _od(t.get("best_bid_quantity")), _od(t.get("best_ask_quantity")),
                        _od(t.get("volume_24_h")), when, receive_ns,
                    )
                )  # fmt: skip

    def _trades(self, msg: dict, receive_ns: int) -> None:
        for ev in msg["events"]:
            for t in ev["trades"]:
                side = t.get("side")
                # ccxt reads this as the taker's side; we follow it (BUY/SELL, upper case on the wire).
                norm: Side | None = "buy" if side == "BUY" else "sell" if side == "SELL" else None
                self.emit(
                    Trade(
                        self.exchange, self._sym(t["product_id"]), str(t["trade_id"]), _d(t["price"]),
                        _d(t["size"]), norm, iso_to_dt(t["time"]), receive_ns,
                    )
                )  # fmt: skip

    def _candles(self, msg: dict, receive_ns: int) -> None:
        when = iso_to_dt(msg["timestamp"])
        for ev in msg["events"]:
            for c in ev["candles"]:
                start = int(c["start"])
                self.emit(
                    Candle(
                        self.exchange, self._sym(c["product_id"]), "5m", EPOCH + timedelta(seconds=start),
                        _d(c["open"]), _d(c["high"]), _d(c["low"]), _d(c["close"]), _d(c["volume"]),
                        False, when, receive_ns,
                    )
                )  # fmt: skip


HANDLERS: dict[str, ChannelHandler] = {
    "l2_data": CoinbaseSession._level2, "ticker": CoinbaseSession._ticker, "ticker_batch": CoinbaseSession._ticker,
    "market_trades": CoinbaseSession._trades, "candles": CoinbaseSession._candles,
}  # fmt: skip
