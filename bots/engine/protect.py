"""Protective stops: while a live bot holds a position with a stop level, one sell stop-limit rests on
the exchange, so the position stays protected when the engine, its machine or its network is gone.

- Where: the highest of the stop-loss and the trailing stop (the level the engine itself would sell
  at), rounded down to the tick; the limit sits ``limit_offset_pct`` below it so a fast fall still fills.
- One at a time, per bot, under the bot's lock: a move is cancel-then-place, and the new stop is
  placed only once the venue confirmed the old one is gone (never two resting at once).
- Rate-limited: a trailing stop that rises every tick moves the order only when it moved by at least
  one tick and at most once every ``min_move_seconds``; placing the first one and removing it are not
  delayed.
- Whichever fires first wins: before the engine sends its own exit sell it cancels the protective
  order (``clear_for_exit``); when the cancel answers that the stop already filled, its fills are
  applied (the position is closed) and the exit is not sent. A stop the venue filled while the engine
  watched reaches the position through the gateway's poller like any fill.
- Removed when the position is closed by the bot, or when the stop levels are gone.

Every order goes the one order path: written (purpose ``protective_stop``) before it is sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal

from .bot import BotRunner
from .config import ProtectConfig
from .ports import Clock, OrderStore
from .positions import Position
from .types import (
    FINAL_STATUSES,
    PROTECTIVE_STOP,
    ZERO,
    MarketRules,
    Order,
    OrderUpdate,
    new_client_order_id,
    round_step,
)

log = logging.getLogger(__name__)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True)
class Wanted:
    """Where the protective stop should rest."""

    stop_price: Decimal
    limit_price: Decimal
    quantity: Decimal


def wanted(runner: BotRunner, offset_pct: Decimal) -> Wanted | None:
    """The protective stop a hosted bot's position needs now (see ``wanted_for``)."""
    return wanted_for(runner.position, runner.spec.rules, offset_pct)


def wanted_for(position: Position, rules: MarketRules, offset_pct: Decimal) -> Wanted | None:
    """The protective stop a position needs, or None (no position, no stop level, an exit of the
    engine's own in flight, or less than the market's minimum). The engine and the guardian both ask."""
    if position.quantity <= 0 or position.exit_order_id is not None:
        return None
    levels = [p for p in (position.stop_loss_price, position.trailing_stop_price) if p is not None]
    if not levels:
        return None
    stop = round_step(max(levels), rules.price_tick)
    limit = round_step(stop * (1 - offset_pct / HUNDRED), rules.price_tick)
    quantity = round_step(position.quantity, rules.quantity_step)
    if stop <= 0 or limit <= 0 or quantity <= 0 or quantity * limit < rules.min_notional:
        return None
    return Wanted(stop, limit, quantity)


def protective(runner: BotRunner) -> Order | None:
    """The bot's live protective order (at most one)."""
    for order in runner.orders.values():
        if order.purpose == PROTECTIVE_STOP and order.status not in FINAL_STATUSES:
            return order
    return None


class ProtectiveStops:
    """Keeps each live bot's protective stop on the exchange (owned by the engine)."""

    def __init__(self, *, clock: Clock, store: OrderStore, on_update: Callable[[BotRunner, OrderUpdate], None],
                 config: ProtectConfig | None = None) -> None:
        self.clock, self.store, self.on_update = clock, store, on_update
        self.config = config or ProtectConfig()
        self.locks: dict[int, asyncio.Lock] = {}
        self.moved_at: dict[int, float] = {}
        self.retry_at: dict[int, float] = {}  # after a refused placement: not again on every heartbeat

    def applies(self, runner: BotRunner) -> bool:
        """Live bots on a venue that can rest a protective stop."""
        return self.config.enabled and runner.spec.mode == "live" and runner.gateway.protective_stops

    def busy(self, runner: BotRunner) -> bool:
        """A sync or an exit's cancel is running for this bot."""
        return self._lock(runner).locked()

    def _lock(self, runner: BotRunner) -> asyncio.Lock:
        return self.locks.setdefault(runner.spec.id, asyncio.Lock())

    async def sync(self, runner: BotRunner) -> None:
        """Bring the bot's protective order to where it should be (place, move, remove)."""
        if not self.applies(runner):
            return
        async with self._lock(runner):
            await self._sync(runner)

    async def _sync(self, runner: BotRunner) -> None:
        want = wanted(runner, self.config.limit_offset_pct)
        current = protective(runner)
        if current is not None and current.status == "unknown":
            return  # its fate is being reconciled: never a second one beside it
        if want is None:
            if current is not None:
                await self._cancel(runner, current)
            return
        if current is None:
            if self.clock.monotonic() >= self.retry_at.get(runner.spec.id, -1e18):
                await self._place(runner, want)
            return
        if current.stop_price == want.stop_price and current.quantity == want.quantity:
            return
        mono = self.clock.monotonic()
        resized = current.quantity != want.quantity
        if not resized:
            moved = abs(want.stop_price - (current.stop_price or ZERO))
            if moved < runner.spec.rules.price_tick or mono - self.moved_at.get(runner.spec.id, -1e18) < \
                    self.config.min_move_seconds:
                return
        if await self._cancel(runner, current):
            self.moved_at[runner.spec.id] = mono
            if wanted(runner, self.config.limit_offset_pct) == want:  # still held: the cancel filled nothing
                await self._place(runner, want)

    async def clear_for_exit(self, runner: BotRunner) -> bool:
        """Before the engine's own exit sell: cancel the protective order. True when the exit may go
        (nothing rests on the venue any more); False when the cancel failed (the stop still protects;
        the exit is retried later). A stop that filled first has closed the position through its fills."""
        if not self.applies(runner):
            return True
        async with self._lock(runner):
            current = protective(runner)
            return current is None or await self._cancel(runner, current)

    async def _call(self, coro: Awaitable[OrderUpdate]) -> OrderUpdate | None:
        try:
            return await asyncio.wait_for(coro, self.config.timeout)
        except Exception as exc:  # unavailable: the order stays as it is; the next sync retries
            log.info("protective stop call failed: %r", exc)
            return None

    async def _cancel(self, runner: BotRunner, order: Order) -> bool:
        """Cancel ``order``; True once the venue says it is over (cancelled, or filled: fills applied)."""
        update = await self._call(runner.gateway.cancel(order))
        if update is None:
            return False
        self.on_update(runner, update)
        return update.status in FINAL_STATUSES

    async def _place(self, runner: BotRunner, want: Wanted) -> None:
        spec = runner.spec
        order = Order(new_client_order_id(spec.id), spec.id, spec.instrument, "sell", "stop", want.quantity,
                      want.limit_price, self.clock.now(), purpose=PROTECTIVE_STOP, stop_price=want.stop_price)
        try:
            await self.store.create_order(order)  # no row, no order
        except Exception as exc:
            log.warning("protective stop of bot %s not recorded, so not sent: %r", spec.id, exc)
            return
        runner.orders[order.client_order_id] = order
        self.moved_at[spec.id] = self.clock.monotonic()  # the next move no sooner than an interval from now
        update = await self._call(runner.gateway.submit(order))
        if update is not None and update.status == "rejected":
            self.retry_at[spec.id] = self.clock.monotonic() + self.config.min_move_seconds
        self.on_update(runner, update or OrderUpdate(order.client_order_id, "unknown",
                                                     error="No answer from the exchange"))
