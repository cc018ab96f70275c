"""Candles built from trades and ticks for 1m, 5m and 15m, warmed up from the venue's REST klines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from marketdata.feeds.types import Candle, Instrument

INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900}
_NS = 1_000_000_000
ZERO = Decimal(0)


def interval_ns(interval: str) -> int:
    """The length of an interval in nanoseconds; ``ValueError`` for an unknown one."""
    try:
        return INTERVALS[interval] * _NS
    except KeyError:
        raise ValueError(f"unknown candle interval {interval!r}; use one of {', '.join(INTERVALS)}") from None


class CandleBuilder:
    """Aggregates prices into OHLCV candles of one interval for one instrument.

    A candle closes when the first price of a later bucket arrives (or on ``flush``); the closed
    candle is passed to every listener. Buckets are aligned to the epoch, as venues align klines.
    """

    __slots__ = ("instrument", "interval", "_len", "_bucket", "_o", "_h", "_l", "_c", "_v", "listeners",
                 "last_closed")

    def __init__(self, instrument: Instrument, interval: str) -> None:
        self.instrument = instrument
        self.interval = interval
        self._len = interval_ns(interval)
        self._bucket = -1
        self._o = self._h = self._l = self._c = self._v = ZERO
        self.listeners: list[Callable[[Candle], None]] = []
        self.last_closed: Candle | None = None

    def add(self, price: Decimal, quantity: Decimal, ts_ns: int) -> Candle | None:
        """Add one price (a trade with its quantity, or a tick with 0); return a candle it closed."""
        bucket = ts_ns // self._len
        if bucket == self._bucket:
            if price > self._h:
                self._h = price
            elif price < self._l:
                self._l = price
            self._c = price
            self._v += quantity
            return None
        if bucket < self._bucket:
            return None  # a late price for a closed candle is dropped, as the venue would
        closed = self._close() if self._bucket >= 0 else None
        self._bucket = bucket
        self._o = self._h = self._l = self._c = price
        self._v = quantity
        return closed

    def flush(self, now_ns: int) -> Candle | None:
        """Close the current candle if its interval has ended by ``now_ns`` (no later price came)."""
        if self._bucket >= 0 and now_ns // self._len > self._bucket:
            closed = self._close()
            self._bucket = -1
            return closed
        return None

    def current(self) -> Candle | None:
        """The candle still open (``closed=False``), or None before the first price."""
        if self._bucket < 0:
            return None
        return self._candle(closed=False)

    def warm_up(self, candles: list[Candle]) -> list[Candle]:
        """Closed candles from REST, oldest first, that precede the live ones; returns those kept."""
        kept = [c for c in candles if c.closed]
        if kept:
            self.last_closed = kept[-1]
        return kept

    def _candle(self, closed: bool) -> Candle:
        start_ns = self._bucket * self._len
        return Candle(
            exchange=self.instrument.exchange, symbol=self.instrument.symbol, interval=self.interval,
            open_time=datetime.fromtimestamp(start_ns // _NS, tz=UTC),
            open=self._o, high=self._h, low=self._l, close=self._c, volume=self._v,
            closed=closed, exchange_time=None, receive_ns=start_ns + self._len,
        )

    def _close(self) -> Candle:
        candle = self._candle(closed=True)
        self.last_closed = candle
        for listener in self.listeners:
            listener(candle)
        return candle
