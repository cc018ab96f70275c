"""The engine's ports: everything outside the trading core is reached through these Protocols.

Hosts (the Channels worker, the single-process ``run``) plug in real implementations
(``bots.store``, the market-data manager, the brokers); tests plug in fakes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from marketdata.feeds.types import Candle, Instrument, MarketEvent, Subscription, Ticker

from .positions import Position
from .types import BotSpec, Fill, Order, OrderUpdate

Listener = Callable[[MarketEvent], None]


class Clock(Protocol):
    """Aware UTC wall time and a monotonic clock, injectable so tests control time."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@runtime_checkable
class Feeds(Protocol):
    """Market data: the pooled manager's subscribe/unsubscribe (reference counted, routed by
    (exchange, channel, symbol); listeners are sync callables run on the loop)."""

    async def subscribe(self, subscription: Subscription, listener: Listener) -> Any: ...

    async def unsubscribe(self, handle: Any) -> None: ...


class History(Protocol):
    """Closed candles from the venue's REST klines, to warm indicators up at start."""

    async def fetch_candles(self, instrument: Instrument, interval: str, limit: int) -> list[Candle]: ...


class OrderStore(Protocol):
    """Durable state. ``create_order`` is awaited and durable BEFORE the gateway is called;
    everything else is queued (it must not block the tick path) and written in batches."""

    async def create_order(self, order: Order) -> None: ...

    def update_order(self, order: Order, note: str = "") -> None: ...

    def record_fill(self, order: Order, fill: Fill) -> None: ...

    def save_position(self, bot_id: int, position: dict[str, Any]) -> None: ...

    def set_status(self, bot_id: int, status: str, reason: str = "") -> None: ...

    def heartbeat(self, bot_ids: list[int], at: datetime) -> None: ...


class Gateway(Protocol):
    """Where orders go: a paper broker or a live exchange. Later changes (fills, cancels) are
    reported through the ``on_update`` callback the engine passes when it creates the gateway."""

    async def submit(self, order: Order) -> OrderUpdate: ...

    async def cancel(self, order: Order) -> OrderUpdate: ...

    async def fetch(self, order: Order) -> OrderUpdate: ...

    def balance(self, bot_id: int, asset: str) -> Decimal | None: ...

    def taker_fee(self, exchange: str) -> Decimal:
        """The fee rate a market order pays on ``exchange`` (sizes entries so the fee is covered)."""
        ...

    def sync_account(self, spec: BotSpec, position: Position) -> None:
        """Align the account with a position restored after a restart (paper balances; live: nothing)."""
        ...

    def adopt(self, order: Order) -> None:
        """Take back an open order restored after a restart (rest it on the book, or poll its fills)."""
        ...

    def release(self, bot_id: int) -> None:
        """Forget a stopped bot (its update handler); its orders stay where they are."""
        ...


UpdateHandler = Callable[[OrderUpdate], None]


class GatewayFactory(Protocol):
    """Gives the gateway for a bot (one shared paper broker; one live client per account)."""

    def for_bot(self, spec: BotSpec, on_update: UpdateHandler) -> Gateway: ...


class PaperGatewayFactory(GatewayFactory, Protocol):
    """The paper broker's factory also sees every routed ticker, to fill resting orders against it."""

    def on_book(self, instrument: Instrument, ticker: Ticker) -> None: ...


class EventSink(Protocol):
    """Publishes a bot's events to its owner's channel-layer group; ``persist`` also stores a
    ``BotEvent``. Must not block: implementations queue."""

    def emit(self, spec: BotSpec, kind: str, data: dict[str, Any], *, persist: bool = False) -> None: ...
