"""Kraken WebSocket v2 frames -> normalised events, with book checksum validation.

v2 sends prices as JSON numbers: they are parsed with ``json.loads(parse_float=Decimal)`` so the
printed digits survive (orjson would give floats: 4.21870000 -> 4.2187, which breaks the checksum).
Checksum (Kraken docs): CRC32 over the top 10 asks (ascending) then the top 10 bids (descending),
each price then quantity as printed, dot removed and leading zeros stripped, computed after the
update is applied and the book trimmed to the subscribed depth. A mismatch drops the book and
resubscribes it (a fresh snapshot).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marketdata.exchanges.base import Action, ChannelHandler, ParseError, SessionBase, iso_to_dt
from marketdata.feeds.book import OrderBook
from marketdata.feeds.types import BookSnapshot, BookUpdate, Candle, Subscription, Ticker, Trade

BOOK_DEPTH = 10
IGNORED = frozenset({"heartbeat", "status"})
_FLOATS: dict[str, Decimal] = {}


def _float(text: str) -> Decimal:
    # JSON number text -> Decimal with its printed digits; cached because quotes repeat (see wire_decimal).
    d = _FLOATS.get(text)
    if d is None:
        if len(_FLOATS) >= 16_384:
            _FLOATS.clear()
        d = _FLOATS[text] = Decimal(text)
    return d


_loads = json.JSONDecoder(parse_float=_float).decode


def _k(value: Any) -> Decimal:
    t = type(value)
    if t is Decimal:
        if not value.is_finite():
            raise ParseError("non-finite number")
        return value
    if t is int:
        return Decimal(value)
    raise ParseError(f"not a number: {value!r}")


def _ok(value: Any) -> Decimal | None:
    return None if value is None else _k(value)


def _digits(d: Decimal) -> str:
    # "as printed": Decimal keeps the wire's digits, including trailing zeros.
    return format(d, "f").replace(".", "").lstrip("0")


def book_checksum(book: OrderBook) -> int:
    """Kraken's CRC32 of the top 10 asks then the top 10 bids."""
    bids, asks = book.top(10)
    parts = [_digits(p) + _digits(q) for p, q in asks]
    parts += [_digits(p) + _digits(q) for p, q in bids]
    return zlib.crc32("".join(parts).encode())


@dataclass(slots=True)
class KrakenSession(SessionBase):
    """Parse state of one Kraken v2 connection."""

    adapter: Any = None
    checksum_failures: int = 0

    def add(self, sub: Subscription, venue_symbol: str) -> None:
        """Symbols need no mapping in v2."""

    def feed(self, frame: str | bytes, receive_ns: int) -> None:
        """Parse one frame; events go to ``emit``."""
        try:
            msg = _loads(frame if isinstance(frame, str) else frame.decode())
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ParseError("not JSON") from exc
        if type(msg) is not dict:
            raise ParseError("not an object")
        channel = msg.get("channel")
        if self.by_channel(msg, channel, HANDLERS, IGNORED, receive_ns):
            return
        if "method" in msg:  # subscribe/unsubscribe/pong replies
            if msg.get("success") is False:
                raise ParseError(f"venue error {msg.get('error')!r}")
            return
        raise ParseError(f"unknown channel {channel!r}")

    def _ticker(self, msg: dict, receive_ns: int) -> None:
        for t in msg["data"]:
            ts = t.get("timestamp")
            self.emit(
                Ticker(
                    self.exchange, t["symbol"], _k(t["bid"]), _k(t["ask"]), _ok(t.get("last")), _ok(t.get("bid_qty")),
                    _ok(t.get("ask_qty")), _ok(t.get("volume")), iso_to_dt(ts) if ts else None, receive_ns,
                )
            )  # fmt: skip

    def _trade(self, msg: dict, receive_ns: int) -> None:
        for t in msg["data"]:
            side = t.get("side")
            self.emit(
                Trade(
                    self.exchange, t["symbol"], str(t["trade_id"]), _k(t["price"]), _k(t["qty"]),
                    side if side == "buy" or side == "sell" else None, iso_to_dt(t["timestamp"]), receive_ns,
                )
            )  # fmt: skip

    def _ohlc(self, msg: dict, receive_ns: int) -> None:
        for c in msg["data"]:
            ts = c.get("timestamp")
            self.emit(
                Candle(
                    self.exchange, c["symbol"], f"{int(c['interval'])}m", iso_to_dt(c["interval_begin"]),
                    _k(c["open"]), _k(c["high"]), _k(c["low"]), _k(c["close"]), _k(c["volume"]), False,
                    iso_to_dt(ts) if ts else None, receive_ns,
                )
            )  # fmt: skip

    def _book(self, msg: dict, receive_ns: int) -> None:
        kind = msg["type"]
        for b in msg["data"]:
            sym = b["symbol"]
            if type(sym) is not str:
                raise ParseError("bad symbol")
            bids = [(_k(lv["price"]), _k(lv["qty"])) for lv in b["bids"]]
            asks = [(_k(lv["price"]), _k(lv["qty"])) for lv in b["asks"]]
            expected = b["checksum"]
            ts = b.get("timestamp")
            when = iso_to_dt(ts) if ts else None
            book = self.books.get(sym)
            if kind == "snapshot":
                if book is None:
                    book = self.books[sym] = OrderBook(self.exchange, sym, depth=BOOK_DEPTH)
                book.apply_snapshot(bids, asks)
            elif kind == "update":
                if book is None or not book.synced:
                    continue  # awaiting the snapshot of a resubscribe
                book.apply_update(bids, asks)
            else:
                raise ParseError(f"unknown book type {kind!r}")
            if book_checksum(book) != expected:
                self.checksum_failures += 1
                self._resync(sym, book, f"checksum mismatch (expected {expected})")
                continue
            if kind == "snapshot":
                top_bids, top_asks = book.top(BOOK_DEPTH)
                self.emit(BookSnapshot(self.exchange, sym, top_bids, top_asks, None, when, receive_ns))
                reason = self.resyncing.pop(sym, None)
                if reason is not None and self.on_resynced is not None:
                    self.on_resynced(sym, reason)
            else:
                self.emit(BookUpdate(self.exchange, sym, bids, asks, None, when, receive_ns))

    def _resync(self, sym: str, book: OrderBook, reason: str) -> None:
        self.resyncs += 1
        self.resyncing[sym] = reason
        book.clear()
        sub = [Subscription("kraken", "book", sym)]
        frames = (*self.adapter.unsubscribe_frames(sub), *self.adapter.subscribe_frames(sub))
        self.actions.append(Action("resubscribe", sym, reason, frames))


HANDLERS: dict[str, ChannelHandler] = {
    "ticker": KrakenSession._ticker, "book": KrakenSession._book, "trade": KrakenSession._trade,
    "ohlc": KrakenSession._ohlc,
}
