"""Normalised market-data types shared by every venue adapter, the manager and the engine.

Plain Python: no Django. Prices and sizes are ``Decimal`` parsed from the venue's own text,
never through ``float``. Times: ``exchange_time`` is the venue's timestamp converted once to an
aware UTC ``datetime`` in the venue's ``parse.py`` (``None`` when the venue sends none);
``receive_ns`` is ``time.time_ns()`` taken when the frame arrived, so latency can be measured
without building a ``datetime`` on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Literal

Channel = Literal["ticker", "trades", "book", "candles"]
CHANNELS: tuple[Channel, ...] = ("ticker", "trades", "book", "candles")
Side = Literal["buy", "sell"]


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable market: always (venue, unified symbol), never a bare symbol."""

    exchange: str
    symbol: str  # unified, e.g. "BTC/USDT"

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One (exchange, channel, symbol) stream: the key for reference counting and routing."""

    exchange: str
    channel: Channel
    symbol: str


@dataclass(slots=True)
class Ticker:
    channel: ClassVar[str] = "ticker"
    exchange: str
    symbol: str
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    bid_size: Decimal | None
    ask_size: Decimal | None
    volume_24h: Decimal | None
    exchange_time: datetime | None
    receive_ns: int

    @property
    def mid(self) -> Decimal | None:
        if self.bid is None or self.ask is None:
            return None
        return (self.bid + self.ask) / 2

    @property
    def price(self) -> Decimal | None:
        """The best single price for a decision: last trade, else mid."""
        return self.last if self.last is not None else self.mid


@dataclass(slots=True)
class Trade:
    channel: ClassVar[str] = "trades"
    exchange: str
    symbol: str
    trade_id: str
    price: Decimal
    quantity: Decimal
    side: Side | None  # the taker's side, when the venue says
    exchange_time: datetime | None
    receive_ns: int


PriceLevel = tuple[Decimal, Decimal]  # (price, size); size 0 in an update deletes the level


@dataclass(slots=True)
class BookSnapshot:
    channel: ClassVar[str] = "book"
    exchange: str
    symbol: str
    bids: list[PriceLevel]  # best first
    asks: list[PriceLevel]  # best first
    sequence: int | None
    exchange_time: datetime | None
    receive_ns: int


@dataclass(slots=True)
class BookUpdate:
    channel: ClassVar[str] = "book"
    exchange: str
    symbol: str
    bids: list[PriceLevel]
    asks: list[PriceLevel]
    sequence: int | None
    exchange_time: datetime | None
    receive_ns: int


@dataclass(slots=True)
class Candle:
    channel: ClassVar[str] = "candles"
    exchange: str
    symbol: str
    interval: str  # "1m", "5m", "15m", ...
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    closed: bool
    exchange_time: datetime | None
    receive_ns: int


MarketEvent = Ticker | Trade | BookSnapshot | BookUpdate | Candle
