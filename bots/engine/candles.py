"""Candles built from trades and ticks for 1m, 5m and 15m, warmed up from the venue's REST klines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from marketdata.feeds.types import Candle, Instrument

INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900}
_NS = 1_000_000_000
ZERO = Decimal(0)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def event_ns(exchange_time: datetime | None, receive_ns: int) -> int:
    """When the venue says an event happened, in epoch ns (exact); our receive time if it says nothing.
    Candles are bucketed by this, so a replay faster than real time still builds the venue's bars."""
    if exchange_time is None:
        return receive_ns
    return (exchange_time - _EPOCH) // _US * 1000


def interval_ns(interval: str) -> int:
    """The length of an interval in nanoseconds; ``ValueError`` for an unknown one."""
    try:
        return INTERVALS[interval] * _NS
    except KeyError:
        raise ValueError(f"unknown candle interval {interval!r}; use one of {', '.join(INTERVALS)}") from None


class CandleBuilder:
    """Aggregates prices into OHLCV candles of one interval for one instrument.

    A candle closes when the first price of a later bucket arrives (or on ``flush``); the closed
    candle is passed to every listener. Buckets are aligned to the epoch, as venues align klines, and
    a price is placed by the venue's event time (``event_ns``), not by when it reached us.
    """

    __slots__ = ("instrument", "interval", "_len", "_bucket", "_o", "_h", "_l", "_c", "_v", "listeners",
                 "last_closed", "_lag")

    def __init__(self, instrument: Instrument, interval: str) -> None:
        self.instrument = instrument
        self.interval = interval
        self._len = interval_ns(interval)
        self._bucket = -1
        self._o = self._h = self._l = self._c = self._v = ZERO
        self.listeners: list[Callable[[Candle], None]] = []
        self.last_closed: Candle | None = None
        self._lag = 0  # our receive time minus the venue's event time, from the latest price

    def add(self, price: Decimal, quantity: Decimal, ts_ns: int, receive_ns: int | None = None) -> Candle | None:
        """Add one price (a trade with its quantity, or a tick with 0) at the venue's time ``ts_ns``;
        ``receive_ns`` (when we got it) lets ``flush`` tell the venue's time from our clock. Returns a
        candle it closed."""
        if receive_ns is not None:
            self._lag = receive_ns - ts_ns
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
        """Close the current candle if its interval has ended by ``now_ns`` (our clock, shifted to the
        venue's by the latest price's lag) and no later price came."""
        if self._bucket >= 0 and (now_ns - self._lag) // self._len > self._bucket:
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
