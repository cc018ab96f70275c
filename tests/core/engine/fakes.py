"""Fakes for the engine's ports."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bots.engine.types import BotSpec, Fill, MarketRules, Order, OrderUpdate, RiskSettings
from marketdata.feeds.types import Candle, Instrument, Subscription, Ticker

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.t = start
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
        self.mono += seconds


class FakeFeeds:
    """Routes by (exchange, channel, symbol), like the manager; counts wire subscriptions."""

    def __init__(self) -> None:
        self.listeners: dict[Subscription, list[Any]] = defaultdict(list)
        self.wire: list[tuple[str, Subscription]] = []

    async def subscribe(self, sub: Subscription, listener: Any) -> Any:
        if not self.listeners[sub]:
            self.wire.append(("subscribe", sub))
        self.listeners[sub].append(listener)
        return (sub, listener)

    async def unsubscribe(self, handle: Any) -> None:
        sub, listener = handle
        self.listeners[sub].remove(listener)
        if not self.listeners[sub]:
            self.wire.append(("unsubscribe", sub))

    def active(self) -> set[Subscription]:
        return {s for s, ls in self.listeners.items() if ls}

    def push(self, t: Ticker) -> None:
        for listener in list(self.listeners[Subscription(t.exchange, "ticker", t.symbol)]):
            listener(t)


class FakeStore:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[Fill] = []
        self.positions: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, tuple[str, str]] = {}
        self.heartbeats: list[tuple[list[int], datetime]] = []
        self.fail_create = False

    async def create_order(self, order: Order) -> None:
        if self.fail_create:
            raise OSError("database is down")
        self.log.append(("create", order.client_order_id))
        self.orders[order.client_order_id] = {"status": order.status, "side": order.side,
                                              "quantity": order.quantity, "bot": order.bot_id}

    def update_order(self, order: Order, note: str = "") -> None:
        self.log.append(("update", order.client_order_id, order.status))
        self.orders.setdefault(order.client_order_id, {})["status"] = order.status

    def record_fill(self, order: Order, fill: Fill) -> None:
        self.fills.append(fill)

    def save_position(self, bot_id: int, position: dict[str, Any]) -> None:
        self.positions[bot_id] = position

    def set_status(self, bot_id: int, status: str, reason: str = "") -> None:
        self.statuses[bot_id] = (status, reason)

    def heartbeat(self, bot_ids: list[int], at: datetime) -> None:
        self.heartbeats.append((bot_ids, at))


class FakeEvents:
    def __init__(self) -> None:
        self.items: list[tuple[int, str, dict[str, Any], bool]] = []

    def emit(self, spec: BotSpec, kind: str, data: dict[str, Any], *, persist: bool = False) -> None:
        self.items.append((spec.id, kind, data, persist))

    def kinds(self, bot_id: int) -> list[str]:
        return [k for b, k, _, _ in self.items if b == bot_id]

    def of(self, bot_id: int, kind: str) -> list[dict[str, Any]]:
        return [d for b, k, d, _ in self.items if b == bot_id and k == kind]


class RecordingGateway:
    """A gateway that records the store's log at the moment of each call."""

    def __init__(self, store: FakeStore, *, hang: bool = False, answer: str = "open") -> None:
        self.store = store
        self.hang = hang
        self.answer = answer
        self.submitted: list[tuple[Order, list[Any]]] = []
        self.fetch_answer = "canceled"

    def for_bot(self, spec: BotSpec, on_update: Any) -> RecordingGateway:
        self.on_update = on_update
        return self

    async def submit(self, order: Order) -> OrderUpdate:
        self.submitted.append((order, list(self.store.log)))
        if self.hang:
            await asyncio.sleep(3600)
        return OrderUpdate(order.client_order_id, self.answer, "X1")

    async def cancel(self, order: Order) -> OrderUpdate:
        return OrderUpdate(order.client_order_id, "canceled", order.exchange_order_id)

    async def fetch(self, order: Order) -> OrderUpdate:
        return OrderUpdate(order.client_order_id, self.fetch_answer, "X1")

    def balance(self, bot_id: int, asset: str) -> Decimal | None:
        return None

    def taker_fee(self, exchange: str) -> Decimal:
        return Decimal("0.001")

    def sync_account(self, spec: BotSpec, position: Any) -> None:
        pass

    def adopt(self, order: Order) -> None:
        pass

    def release(self, bot_id: int) -> None:
        pass

    def on_book(self, instrument: Any, ticker: Any) -> None:
        pass


class FakeHistory:
    def __init__(self, closes: list[Decimal]) -> None:
        self.closes = closes
        self.calls: list[tuple[Instrument, str, int]] = []

    async def fetch_candles(self, instrument: Instrument, interval: str, limit: int) -> list[Candle]:
        self.calls.append((instrument, interval, limit))
        return [Candle(instrument.exchange, instrument.symbol, interval, T0 - timedelta(minutes=len(self.closes) - i),
                       c, c, c, c, Decimal(1), True, None, 0) for i, c in enumerate(self.closes)][-limit:]


def tick(price: str | Decimal, exchange: str = "binance", symbol: str = "BTC/USDT", spread: str = "0",
         ns: int = 0) -> Ticker:
    p = Decimal(price)
    half = Decimal(spread) / 2
    return Ticker(exchange, symbol, p - half, p + half, p, Decimal(1), Decimal(1), Decimal(100), None, ns)


def spec(bot_id: int = 1, *, exchange: str = "binance", symbol: str = "BTC/USDT", strategy: str = "crossover",
         params: dict[str, Any] | None = None, capital: str = "1000", **risk: Any) -> BotSpec:
    params = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"} if params is None else params
    return BotSpec(id=bot_id, owner_id=7, name=f"bot{bot_id}", instrument=Instrument(exchange, symbol),
                   strategy=strategy, params=params, capital=Decimal(capital), risk=RiskSettings(**risk),
                   rules=MarketRules(Decimal("0.01"), Decimal("0.0001"), Decimal("10")))
