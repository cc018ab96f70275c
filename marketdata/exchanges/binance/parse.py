"""Binance spot frames -> normalised events, with the depth-stream / REST-snapshot synchronisation.

Binance sends prices as strings, so ``orjson`` + ``Decimal(str)`` is exact. Book sync (Binance docs,
"How to manage a local order book correctly"): buffer depth events, fetch ``/api/v3/depth``, drop
events with ``u <= lastUpdateId``; the first kept must have ``U <= lastUpdateId + 1 <= u``; after
that every event must continue the chain (``U == previous u + 1``). A break -> drop the book and
fetch a new snapshot (a resync). Stale events can arrive after the REST reply: keep dropping them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from marketdata.exchanges.base import BAD_FIELDS, WIRE_CACHE, Action, ParseError, SessionBase, ms_to_dt, wire_decimal
from marketdata.feeds.book import OrderBook
from marketdata.feeds.types import BookSnapshot, BookUpdate, Candle, Side, Subscription, Ticker, Trade

# Longest first so "FDUSD" wins over "USD"-like suffixes; covers every quote asset in the fixtures.
QUOTES = (
    "FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USDP", "BIDR", "IDRT", "BVND", "AEUR", "DAI", "TRY",
    "EUR", "GBP", "AUD", "BRL", "RUB", "UAH", "NGN", "ZAR", "JPY", "ARS", "PLN", "RON", "MXN", "COP",
    "CZK", "PAX", "VAI", "BTC", "ETH", "BNB", "XRP", "TRX", "DOT", "DOGE",
)  # fmt: skip
MAX_BUFFERED = 5000  # depth events kept while a snapshot is in flight (100 ms stream: ~8 minutes)


def split_symbol(venue: str) -> str:
    """'BTCUSDT' -> 'BTC/USDT'; unknown quotes are returned unchanged."""
    venue = venue.upper()
    for quote in QUOTES:
        if venue.endswith(quote) and len(venue) > len(quote):
            return venue[: -len(quote)] + "/" + quote
    return venue


_d = wire_decimal
WIRE_GET = WIRE_CACHE.get
_loads = orjson.loads


def _levels(rows: Any) -> list[tuple[Decimal, Decimal]]:
    return [(_d(p), _d(q)) for p, q in rows]


@dataclass(slots=True)
class BinanceSession(SessionBase):
    """Parse state of one Binance connection."""

    symbols: dict[str, str] = field(default_factory=dict)  # BTCUSDT -> BTC/USDT
    # venue symbol -> (symbol, last, 24 h volume): what a bookTicker needs besides its own fields, one lookup
    heads: dict[str, tuple[str, Decimal | None, Decimal | None]] = field(default_factory=dict)
    pending: dict[str, list[dict]] = field(default_factory=dict)  # depth events awaiting a snapshot

    def add(self, sub: Subscription, venue_symbol: str) -> None:
        """Know a subscribed symbol (maps venue names back without guessing)."""
        self.symbols[venue_symbol] = sub.symbol
        self.heads.pop(venue_symbol, None)  # a head cached from a guess before the subscription is rebuilt

    def forget(self, sub: Subscription) -> None:
        """Drop state of an unsubscribed stream."""
        if sub.channel == "book":
            self.books.pop(sub.symbol, None)
            self.pending.pop(sub.symbol, None)

    def _sym(self, venue: Any) -> str:
        sym = self.symbols.get(venue)
        if sym is None:
            if type(venue) is not str:
                raise ParseError("missing symbol")
            sym = self.symbols[venue] = split_symbol(venue)
        return sym

    def feed(self, frame: str | bytes, receive_ns: int) -> None:
        """Parse one frame; events go to ``emit``."""
        # One try block for the whole frame (free in CPython when nothing raises): a wrong shape
        # surfaces as KeyError/TypeError/AttributeError and becomes the one documented ParseError.
        try:
            msg = _loads(frame)
            data = msg.get("data")
            if data is None:
                if "id" in msg:  # reply to SUBSCRIBE/UNSUBSCRIBE
                    if "error" in msg:
                        raise ParseError(f"venue error {msg['error']!r}")
                    return
                data = msg  # raw /ws endpoint: no {"stream","data"} wrapper
            kind = data.get("e")
            if kind is None:
                # bookTicker (no event type), the busiest frame: handled inline, cached Decimals.
                head = self.heads.get(data["s"])
                if head is None:
                    venue = data["s"]
                    head = self.heads[venue] = (self._sym(venue), None, None)
                sym, last, volume = head
                get = WIRE_GET
                b, a, bq, aq = data["b"], data["a"], data["B"], data["A"]
                self.emit(
                    Ticker(
                        self.exchange, sym, get(b) or _d(b), get(a) or _d(a), last, get(bq) or _d(bq),
                        get(aq) or _d(aq), volume, None, receive_ns,
                    )
                )  # fmt: skip
            elif kind == "depthUpdate":
                self._depth(data, receive_ns)
            elif kind == "trade" or kind == "aggTrade":
                self._trade(data, receive_ns)
            elif kind == "24hrTicker":
                self._ticker(data, receive_ns)
            elif kind == "kline":
                self._kline(data, receive_ns)
            else:
                raise ParseError(f"unknown event {kind!r}")
        except ParseError:
            raise
        except orjson.JSONDecodeError as exc:
            raise ParseError("not JSON") from exc
        except BAD_FIELDS as exc:
            raise ParseError(f"bad frame: {exc!r}") from exc

    def _ticker(self, d: dict, receive_ns: int) -> None:
        venue = d["s"]
        sym = self._sym(venue)
        last, volume = _d(d["c"]), _d(d["v"])
        self.heads[venue] = (sym, last, volume)
        self.emit(
            Ticker(
                self.exchange, sym, _d(d["b"]), _d(d["a"]), last, _d(d["B"]), _d(d["A"]), volume,
                ms_to_dt(d["E"]), receive_ns,
            )
        )  # fmt: skip

    def _trade(self, d: dict, receive_ns: int) -> None:
        # "m": the buyer is the maker, so the taker (aggressor) sold.
        side: Side = "sell" if d["m"] else "buy"
        trade_id = d["t"] if d["e"] == "trade" else d["a"]
        self.emit(
            Trade(
                self.exchange, self._sym(d["s"]), str(trade_id), _d(d["p"]), _d(d["q"]), side,
                ms_to_dt(d["T"]), receive_ns,
            )
        )  # fmt: skip

    def _kline(self, d: dict, receive_ns: int) -> None:
        k = d["k"]
        self.emit(
            Candle(
                self.exchange, self._sym(d["s"]), k["i"], ms_to_dt(k["t"]), _d(k["o"]), _d(k["h"]), _d(k["l"]),
                _d(k["c"]), _d(k["v"]), bool(k["x"]), ms_to_dt(d["E"]), receive_ns,
            )
        )  # fmt: skip

    # --- depth ---------------------------------------------------------------------------------

    def _depth(self, d: dict, receive_ns: int) -> None:
        sym = self._sym(d["s"])
        first, last = d["U"], d["u"]
        if type(first) is not int or type(last) is not int or first > last:
            raise ParseError("bad update ids")
        book = self.books.get(sym)
        seq = book.sequence if book is not None else None
        if book is None or not book.synced or seq is None:
            self._buffer(sym, d, "initial snapshot" if book is None else "resync")
            return
        if last <= seq:
            return  # stale: already in the snapshot
        if first > seq + 1:
            self._resync(sym, f"gap: expected U <= {seq + 1}, got U={first}")
            self._buffer(sym, d, "gap")
            return
        bids, asks = _levels(d["b"]), _levels(d["a"])
        book.apply_update(bids, asks, last)
        self.emit(BookUpdate(self.exchange, sym, bids, asks, last, ms_to_dt(d["E"]), receive_ns))

    def _buffer(self, sym: str, d: dict, reason: str) -> None:
        buf = self.pending.get(sym)
        if buf is None:
            buf = self.pending[sym] = []
            self.books.setdefault(sym, OrderBook(self.exchange, sym))
            self.actions.append(Action("snapshot", sym, reason))
        elif len(buf) >= MAX_BUFFERED:
            del buf[: len(buf) // 2]  # the snapshot is late; keep the newest half
        buf.append(d)

    def _resync(self, sym: str, reason: str) -> None:
        self.resyncs += 1
        self.resyncing[sym] = reason
        book = self.books.get(sym)
        if book is not None:
            book.clear()
        self.pending.pop(sym, None)

    def apply_snapshot(self, symbol: str, payload: bytes, receive_ns: int) -> None:
        """Apply a REST ``/api/v3/depth`` reply and the buffered events that follow it."""
        if symbol not in self.books:
            return  # unsubscribed while the snapshot was in flight
        try:
            snap = orjson.loads(payload)
            last_id = snap["lastUpdateId"]
            bids, asks = _levels(snap["bids"]), _levels(snap["asks"])
            if type(last_id) is not int:
                raise ParseError("bad lastUpdateId")
        except ParseError:
            self.pending.pop(symbol, None)  # next depth event asks again
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            self.pending.pop(symbol, None)
            raise ParseError(f"bad depth snapshot: {exc!r}") from exc
        buf = [e for e in self.pending.get(symbol, ()) if e["u"] > last_id]
        if buf and buf[0]["U"] > last_id + 1:
            # The snapshot is older than the stream we hold: ask for a newer one.
            self.pending[symbol] = buf
            self.actions.append(Action("snapshot", symbol, "snapshot older than buffered events"))
            return
        self.pending.pop(symbol, None)
        book = self.books[symbol]
        book.apply_snapshot(bids, asks, last_id)
        self.emit(BookSnapshot(self.exchange, symbol, bids, asks, last_id, None, receive_ns))
        reason = self.resyncing.pop(symbol, None)
        if reason is not None and self.on_resynced is not None:
            self.on_resynced(symbol, reason)
        for event in buf:
            self._depth(event, receive_ns)
