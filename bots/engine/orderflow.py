"""The engine's order path: strategy -> risk (in the bot) -> store (durable) -> gateway -> store.

Each order is sent in its own task, so the tick that produced it never waits. The order row is
written and awaited *before* the gateway is called; if that write fails the order is not sent.
A gateway that does not answer in time leaves the order ``unknown`` until reconciliation asks the
exchange about it by client order id.

The engine owns one ``OrderFlow`` and hands it what it needs: the ports, the timings, and three
callbacks into the engine (run a task, fail a bot, act on a pause a rule requested).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from .bot import BotRunner
from .config import EngineConfig
from .ports import Clock, EventSink, OrderStore
from .protect import ProtectiveStops
from .risk import daily_loss_breached
from .types import EXIT_PURPOSES, FINAL_STATUSES, PROTECTIVE_STOP, Order, OrderUpdate, round_step

log = logging.getLogger(__name__)


def order_payload(order: Order) -> dict[str, Any]:
    """The event payload for an order change."""
    return {"client_order_id": order.client_order_id, "exchange_order_id": order.exchange_order_id,
            "side": order.side, "type": order.type, "quantity": order.quantity, "price": order.price,
            "status": order.status, "filled_quantity": order.filled_quantity,
            "average_price": order.average_price, "fees": order.fees, "purpose": order.purpose,
            "error": order.last_error}


class OrderFlow:
    """The engine's bots' orders: sending, gateway reports, reconciliation and position saves."""

    def __init__(self, *, clock: Clock, store: OrderStore, events: EventSink, config: EngineConfig,
                 spawn: Callable[[Coroutine[Any, Any, None]], object],
                 fail: Callable[[BotRunner, BaseException], None],
                 pause_requested: Callable[[BotRunner], None]) -> None:
        self.store, self.events, self.config = store, events, config
        self._spawn, self._fail, self._pause_requested = spawn, fail, pause_requested
        self.protect = ProtectiveStops(clock=clock, store=store, on_update=self.on_update, config=config.protect)

    def place(self, runner: BotRunner, order: Order) -> None:
        """Called by a bot on the tick path with an approved order: send it in a task."""
        self._spawn(self._send(runner, order))

    async def _send(self, runner: BotRunner, order: Order) -> None:
        spec = runner.spec
        try:
            if order.side == "sell" and order.purpose in EXIT_PURPOSES and self.protect.applies(runner) \
                    and not await self._clear_protection(runner, order):
                return
            try:
                await self.store.create_order(order)
            except Exception as exc:
                # No row, no order: it is dropped, never sent.
                order.status, order.last_error = "rejected", f"Not recorded, so not sent: {exc!r}"[:500]
                runner.orders.pop(order.client_order_id, None)
                runner.position.release_exit(order.client_order_id)
                runner.sync_context()
                self.events.emit(spec, "order", order_payload(order), persist=True)
                return
            self.events.emit(spec, "order", order_payload(order))
            try:
                async with asyncio.timeout(self.config.submit_timeout):  # no task per order, unlike wait_for
                    update = await runner.gateway.submit(order)
            except TimeoutError:
                update = OrderUpdate(order.client_order_id, "unknown", error="No answer from the exchange")
            except Exception as exc:  # the gateway maps definite refusals to "rejected"; this is ambiguous
                update = OrderUpdate(order.client_order_id, "unknown", error=repr(exc)[:500])
        finally:
            runner.inflight -= 1
        self.on_update(runner, update)

    async def _clear_protection(self, runner: BotRunner, order: Order) -> bool:
        """Whichever fires first wins: cancel the protective stop before the engine's own exit, then sell
        only what is still held. False (the exit is dropped, never sent) when the stop filled first or
        could not be cancelled (it still protects; the exit is retried later)."""
        if await self.protect.clear_for_exit(runner):
            held = round_step(runner.position.quantity, runner.spec.rules.quantity_step)
            if held > 0:
                order.quantity = min(order.quantity, held)
                return True
            reason = "The protective stop on the exchange filled first: the position is closed"
        else:
            reason = "The protective stop could not be cancelled: it still protects; the exit is retried"
        order.status, order.last_error = "canceled", reason
        runner.orders.pop(order.client_order_id, None)
        runner.position.release_exit(order.client_order_id)
        runner.retry_exit_later()
        runner.sync_context()
        self.events.emit(runner.spec, "order", order_payload(order), persist=True)
        return False

    def on_update(self, runner: BotRunner, update: OrderUpdate) -> None:
        """Apply a gateway report: order, fills, position; write them (queued) and publish them."""
        try:
            result = runner.apply_update(update)
        except Exception as exc:
            log.exception("applying %s to bot %s failed", update.client_order_id, runner.spec.id)
            self._fail(runner, exc)
            return
        if result is None:
            return
        order, fills = result
        spec, store, emit = runner.spec, self.store, self.events.emit
        for fill in fills:
            store.record_fill(order, fill)
            emit(spec, "fill", {"client_order_id": order.client_order_id, "trade_id": fill.trade_id,
                                "side": fill.side, "price": fill.price, "quantity": fill.quantity,
                                "fee": fill.fee, "fee_asset": fill.fee_asset, "time": fill.time}, persist=True)
        store.update_order(order, update.error)
        emit(spec, "order", order_payload(order), persist=order.status in FINAL_STATUSES or order.status == "unknown")
        if fills:
            runner.position.trail_moved = False
            position = runner.position.to_dict()
            store.save_position(spec.id, position)
            emit(spec, "position", {**position, "unrealized_pnl": runner.position.unrealized(runner.ctx.price)},
                 persist=True)
        if order.status in FINAL_STATUSES:
            runner.orders.pop(order.client_order_id, None)
        if fills and order.purpose != PROTECTIVE_STOP and self.protect.applies(runner):
            self._spawn(self.protect.sync(runner))  # the position changed: place, resize or remove its stop
        if runner.pause_requested is not None:
            self._pause_requested(runner)
        elif fills and spec.risk.max_daily_loss and runner.status == "running" and runner.ctx.now:
            if daily_loss_breached(spec, runner.position.daily_pnl(runner.ctx.price, runner.ctx.now)):
                runner.pause_requested = "Daily loss limit reached"
                self._pause_requested(runner)

    async def reconcile(self, runners: Iterable[BotRunner]) -> None:
        """Ask the gateway about every ``unknown`` order (by client order id) and apply the answer."""
        for runner in list(runners):
            for order in [o for o in runner.orders.values() if o.status == "unknown"]:
                try:
                    update = await asyncio.wait_for(runner.gateway.fetch(order), self.config.submit_timeout)
                except Exception as exc:
                    log.info("reconcile of %s failed: %r", order.client_order_id, exc)
                    continue
                if update.status != "unknown":
                    self.on_update(runner, update)

    def save_moved_trails(self, runners: Iterable[BotRunner]) -> None:
        """Save positions whose trailing stop moved: once a heartbeat, not once a tick."""
        for runner in list(runners):
            position = runner.position
            if position.trail_moved:
                position.trail_moved = False
                data = position.to_dict()
                self.store.save_position(runner.spec.id, data)
                self.events.emit(runner.spec, "position",
                                 {**data, "unrealized_pnl": position.unrealized(runner.ctx.price)})
