"""The engine: hosts bots, routes each tick only to the bots on its (exchange, symbol), sends their
orders (store first, then gateway), isolates their errors and keeps their heartbeats.

A plain asyncio object: everything outside is reached through the ports, so the same engine runs in
the Channels worker, inside the single-process ``run`` command and in tests with fakes.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from marketdata.feeds.types import Candle, Ticker

from .accounts import AccountLimits, OwnerBook
from .bot import BotRunner
from .candles import event_ns
from .config import EngineConfig
from .orderflow import OrderFlow
from .ports import Clock, EventSink, Feeds, GatewayFactory, History, OrderStore, PaperGatewayFactory
from .positions import Position
from .routes import Route, RouteTable
from .strategies import build_strategy
from .types import EXIT_PURPOSES, FINAL_STATUSES, ZERO, BotSpec, Order, OrderUpdate

__all__ = ["Engine", "EngineConfig", "Route"]

log = logging.getLogger(__name__)
STORE_DOWN_REASON = "Database unreachable: new entries paused until it returns"


class Engine:
    """Hosts bots and drives them from market data."""

    def __init__(self, *, clock: Clock, feeds: Feeds, store: OrderStore, events: EventSink,
                 paper: PaperGatewayFactory, live: GatewayFactory | None = None, history: History | None = None,
                 config: EngineConfig | None = None) -> None:
        self.clock, self.feeds, self.store, self.events = clock, feeds, store, events
        self.paper, self.live, self.history = paper, live, history
        self.config = config or EngineConfig()
        self.bots: dict[int, BotRunner] = {}
        self.table = RouteTable(feeds, self._spawn, self._dispatch, self._on_candle, self.config.candles_from_trades)
        self.routes = self.table.routes  # instrument -> Route
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[Any]] = []
        self._starting: set[int] = set()
        self.owners: OwnerBook[BotRunner] = OwnerBook()
        self._observe = getattr(clock, "observe", None)  # an ExchangeClock learns the venues' time from ticks
        self.order_flow = OrderFlow(clock=clock, store=store, events=events, config=self.config, spawn=self._spawn,
                                    fail=self._fail, pause_requested=self._pause_requested)

    # Lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the heartbeat and reconciliation loops."""
        self._loops = [asyncio.create_task(self._every(self.config.heartbeat_interval, self.heartbeat)),
                       asyncio.create_task(self._every(self.config.reconcile_interval, self.reconcile)),
                       asyncio.create_task(self._every(self.config.limits_interval, self._enforce_limits))]

    async def stop(self, timeout: float | None = None) -> None:
        """Stop cleanly: finish in-flight sends (bounded), unsubscribe every feed. Bot statuses are left
        as they are so a restarted engine resumes the running bots. By default in-flight sends get the
        send timeout: a send ends by then (its answer, or ``unknown``), so none is left half-written even
        when a venue's request budget (Kraken's) makes it wait behind a protective stop's cancel."""
        timeout = self.config.submit_timeout if timeout is None else timeout
        for task in self._loops:
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        self.bots.clear()
        self.owners = OwnerBook()
        await self.table.close(timeout)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def reconcile(self) -> None:
        """Ask the gateways about every ``unknown`` order and apply their answers."""
        await self.order_flow.reconcile(self.bots.values())

    async def heartbeat(self) -> None:
        """Record that every hosted bot is alive, save moved trailing stops, and close candles whose
        interval ended in silence."""
        if not self.bots:
            return
        self.follow_store()
        now = self.clock.now()
        self.store.heartbeat(list(self.bots), now)
        self.order_flow.save_moved_trails(self.bots.values())
        protect = self.order_flow.protect
        for runner in list(self.bots.values()):  # place, move (rate-limited) or remove protective stops
            if protect.applies(runner) and not protect.busy(runner):
                self._spawn(protect.sync(runner))
        self.table.flush_candles(int(now.timestamp() * 1_000_000_000))

    def follow_store(self) -> None:
        """Pause new entries while the order store cannot record orders (its ``available`` is False)
        and resume the bots this paused once it can; the status writes queue behind the outage, so
        the reason is in each bot's log when the database is back. Exits keep running (and are not
        sent either while their row cannot be written)."""
        available = getattr(self.store, "available", True)  # optional on the port: fakes need not have it
        for runner in list(self.bots.values()):
            if not available and runner.status == "running":
                self._set_status(runner, "paused", STORE_DOWN_REASON)
            elif available and runner.status == "paused" and runner.status_reason == STORE_DOWN_REASON:
                self.resume_bot(runner.spec.id)

    def _entry_gate(self) -> str | None:
        """Why new entries wait, if they do: the store's write backlog is over its bound (an optional
        method on the port, like ``available``). Asked only when a bot wants to buy."""
        held = getattr(self.store, "entries_held", None)
        return held() if held is not None else None

    async def _every(self, interval: float, fn: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await fn()
            except Exception:
                log.exception("engine periodic task %s failed", getattr(fn, "__name__", fn))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # Control --------------------------------------------------------------------------------------
    async def start_bot(self, spec: BotSpec, position: dict[str, Any] | None = None,
                        orders: Iterable[Order] = (), *, paused: str | None = None) -> BotRunner | None:
        """Host a bot (resuming its position and open orders) and subscribe its (exchange, symbol).
        ``paused`` (a reason) resumes a paused bot as paused."""
        if spec.id in self.bots or spec.id in self._starting:
            return self.bots.get(spec.id)
        self._starting.add(spec.id)
        try:
            return await self._start(spec, position, orders, paused)
        finally:
            self._starting.discard(spec.id)

    async def _start(self, spec: BotSpec, position: dict[str, Any] | None,
                     orders: Iterable[Order], paused: str | None) -> BotRunner | None:
        factory = self.paper if spec.mode == "paper" else self.live
        try:
            if factory is None:
                raise RuntimeError("live trading is not configured in this engine")

            def on_update(update: OrderUpdate) -> None:  # the gateway's later reports for this bot
                self.order_flow.on_update(runner, update)

            runner = BotRunner(spec, factory.for_bot(spec, on_update), self.order_flow.place, self.events.emit,
                               self.clock.monotonic, self.config.price_interval)
            # The paper broker's headroom covers its slippage as well as the fee (``taker_cost``).
            cost = getattr(runner.gateway, "taker_cost", None) or runner.gateway.taker_fee
            runner.taker_fee = cost(spec.instrument.exchange)
            self._restore(runner, position, orders)
        except Exception as exc:
            self._report_error(spec, exc)
            return None
        await self._warm_up(runner)
        self.bots[spec.id] = runner
        runner.owner_book = self.owners
        runner.entry_gate = self._entry_gate
        self.owners.add(runner)
        try:
            await self.table.add(runner)
        except Exception as exc:
            self.bots.pop(spec.id, None)
            self.owners.remove(runner)
            self.table.remove(runner)
            self._report_error(spec, exc)
            return None
        if paused is None:
            self._set_status(runner, "running", "")
        else:
            self._set_status(runner, "paused", paused)
        return runner

    def _restore(self, runner: BotRunner, position: dict[str, Any] | None, orders: Iterable[Order]) -> None:
        spec = runner.spec
        if position:
            runner.position = Position.from_dict(position, spec.risk, runner.base, self.clock.now().date())
            runner.position.dust = spec.rules.quantity_step
            if position.get("last_order_at") is not None:  # DCA's schedule, cooldowns
                runner.ctx.last_order_at = position["last_order_at"]
        runner.gateway.sync_account(spec, runner.position)
        for order in orders:
            if order.status in FINAL_STATUSES:
                continue
            if order.status == "pending_submit":
                order.status = "unknown"  # written but maybe never sent: ask the exchange
            runner.orders[order.client_order_id] = order
            if order.purpose in EXIT_PURPOSES and order.side == "sell":
                runner.position.exit_order_id = order.client_order_id
            last = runner.ctx.last_order_at
            runner.ctx.last_order_at = order.created_at if last is None else max(last, order.created_at)
            runner.gateway.adopt(order)
        runner.sync_context()

    async def _warm_up(self, runner: BotRunner) -> None:
        strategy = runner.strategy
        if strategy.timeframe == "tick" or self.history is None or not strategy.warmup:
            return
        try:
            candles = await asyncio.wait_for(self.history.fetch_candles(
                runner.spec.instrument, strategy.timeframe, strategy.warmup), self.config.warmup_timeout)
            strategy.warm_up([c for c in candles if c.closed])
        except Exception as exc:  # a bot without history still trades; it just waits for candles
            self.events.emit(runner.spec, "warning", {"message": f"Warm-up failed: {exc!r}"}, persist=True)

    async def stop_bot(self, bot_id: int, reason: str = "Stopped") -> None:
        """Cancel the bot's resting orders, unsubscribe it (other bots keep the feed) and stop it."""
        runner = self.bots.get(bot_id)
        if runner is None:
            return
        unsubscribing = self.table.remove(runner)
        if unsubscribing is not None:  # let the unsubscribe reach the manager before "stopped"
            await asyncio.wait([unsubscribing], timeout=self.config.submit_timeout)
        for order in list(runner.orders.values()):
            if order.status in ("open", "partially_filled"):
                try:
                    update = await asyncio.wait_for(runner.gateway.cancel(order), self.config.submit_timeout)
                    self.order_flow.on_update(runner, update)
                except Exception as exc:
                    self.events.emit(runner.spec, "warning",
                                     {"message": f"Cancel of {order.client_order_id} failed: {exc!r}"},
                                     persist=True)
        self.bots.pop(bot_id, None)
        self.owners.remove(runner)
        runner.gateway.release(bot_id)
        self._set_status(runner, "stopped", reason)

    async def detach_bot(self, bot_id: int) -> BotRunner | None:
        """Stop hosting a bot without changing its state (status, resting orders, position stay as
        they are) so that another host resumes it: a lease handover. In-flight sends finish first."""
        runner = self.bots.pop(bot_id, None)
        if runner is None:
            return None
        unsubscribing = self.table.remove(runner)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.submit_timeout
        protect = self.order_flow.protect
        while (runner.inflight or protect.busy(runner)) and loop.time() < deadline:  # orders and protective stops
            await asyncio.sleep(0.01)
        if unsubscribing is not None:
            await asyncio.wait([unsubscribing], timeout=self.config.submit_timeout)
        for name in ("forget", "release"):  # the broker drops the bot's resting orders and handler
            fn = getattr(runner.gateway, name, None)
            if fn is not None:
                fn(bot_id)
        return runner

    def pause_bot(self, bot_id: int, reason: str = "Paused") -> None:
        """No new entries; stop-loss, take-profit and trailing exits keep protecting the position."""
        runner = self.bots.get(bot_id)
        if runner is not None and runner.status == "running":
            self._set_status(runner, "paused", reason)

    def close_position(self, bot_id: int) -> None:
        """Sell the bot's whole position at market on its next price (exits run while paused too)."""
        runner = self.bots.get(bot_id)
        if runner is not None:
            runner.close_requested = True

    def resume_bot(self, bot_id: int) -> None:
        """Resume a paused bot."""
        runner = self.bots.get(bot_id)
        if runner is not None and runner.status == "paused":
            runner.pause_requested = None
            self._set_status(runner, "running", "")

    def resync_bot(self, bot_id: int, position: dict[str, Any] | None, orders: Iterable[Order]) -> bool:
        """Take a hosted bot's position and open orders from the database, where reconciliation wrote
        fills or statuses the engine has not seen. Orders being sent stay as the engine has them."""
        runner = self.bots.get(bot_id)
        if runner is None:
            return False
        sending = {c: o for c, o in runner.orders.items() if o.status == "pending_submit"}
        runner.orders = {}
        runner.position = Position(runner.base)
        self._restore(runner, position, [o for o in orders if o.client_order_id not in sending])
        runner.orders.update(sending)
        return True

    async def reload_bot(self, spec: BotSpec) -> BotRunner | None:
        """Apply edited settings in place (strategy, parameters, risk, capital, market), keeping the
        bot's position, open orders and in-flight sends. Changing mode or account needs no open orders."""
        runner = self.bots.get(spec.id)
        if runner is None:
            return await self.start_bot(spec)
        old = runner.spec
        if (spec.mode, spec.account_id) != (old.mode, old.account_id) and (runner.orders or runner.inflight):
            self.events.emit(old, "warning", {"message": "Mode or account not changed: the bot has open orders"},
                             persist=True)
            spec.mode, spec.account_id = old.mode, old.account_id
        try:
            strategy = build_strategy(spec.strategy, spec.params)
        except Exception as exc:
            self._fail(runner, exc)
            return None
        same_market = spec.instrument == old.instrument
        if not same_market:
            self.table.remove(runner)
        if (spec.mode, spec.account_id) != (old.mode, old.account_id):
            runner.gateway.release(spec.id)
            factory = self.paper if spec.mode == "paper" else self.live
            if factory is None:
                self._fail(runner, RuntimeError("live trading is not configured in this engine"))
                return None
            runner.gateway = factory.for_bot(spec, functools.partial(self.order_flow.on_update, runner))
        runner.spec, runner.strategy = spec, strategy
        runner.ctx.capital = spec.capital
        runner.position.dust = spec.rules.quantity_step
        runner.position.reset_levels(spec.risk)
        await self._warm_up(runner)
        try:
            if same_market:
                route = self.routes[spec.instrument]
                await self.table.ensure_candles(route, runner)
                self.table.prune_candles(route)
            else:
                await self.table.add(runner)
        except Exception as exc:
            self._fail(runner, exc)
            return None
        self.events.emit(spec, "reloaded", {"message": "Settings reloaded"}, persist=True)
        return runner

    def _set_status(self, runner: BotRunner, status: str, reason: str) -> None:
        runner.status, runner.status_reason = status, reason
        self.store.set_status(runner.spec.id, status, reason)
        self.events.emit(runner.spec, "status", {"status": status, "reason": reason}, persist=True)

    def _report_error(self, spec: BotSpec, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}"[:500]
        self.store.set_status(spec.id, "error", reason)
        self.events.emit(spec, "status", {"status": "error", "reason": reason}, persist=True)

    def _fail(self, runner: BotRunner, exc: BaseException) -> None:
        """A bot raised: it goes to error with the reason; nothing else is touched."""
        log.warning("bot %s failed: %r", runner.spec.id, exc)
        self.table.remove(runner)
        self.bots.pop(runner.spec.id, None)
        self.owners.remove(runner)
        runner.status, runner.status_reason = "error", f"{type(exc).__name__}: {exc}"[:500]
        self._report_error(runner.spec, exc)

    # Ticks and candles to the bots ------------------------------------------------------------------
    def _dispatch(self, route: Route, t: Ticker) -> None:
        """The hot path: one ticker to the paper book, the candle builders and every bot on it."""
        self.paper.on_book(route.instrument, t)
        if self._observe is not None and t.exchange_time is not None:
            self._observe(t.exchange_time)  # about once a second per symbol (the 24 h ticker carries it)
        price = t.price
        if price is None:
            return
        now, mono = self.clock.now(), self.clock.monotonic()
        for runner in route.bots:
            try:
                runner.on_ticker(t, now, mono, price)
                if runner.pause_requested is not None:
                    self._pause_requested(runner)
            except Exception as exc:
                self._fail(runner, exc)
        if route.builders and route.trades_handle is None:
            at = event_ns(t.exchange_time, t.receive_ns)
            for builder in route.builders.values():
                builder.add(price, ZERO, at, t.receive_ns)

    def _on_candle(self, route: Route, interval: str, candle: Candle) -> None:
        for runner in route.bots:
            if runner.strategy.timeframe != interval:
                continue
            try:
                runner.on_candle(candle)
            except Exception as exc:
                self._fail(runner, exc)

    def _pause_requested(self, runner: BotRunner) -> None:
        reason, runner.pause_requested = runner.pause_requested, None
        if runner.pause_owner:
            runner.pause_owner = False
            self.pause_owner(runner.spec.owner_id, reason or "Account limit reached")
        elif runner.status == "running":
            self._set_status(runner, "paused", reason or "Paused by risk")

    # Limits per user, across bots -------------------------------------------------------------------
    def set_owner_limits(self, owner_id: int, limits: AccountLimits) -> None:
        """Take an owner's new account-wide limits (the host loads them; a change replaces them)."""
        self.owners.set_limits(owner_id, limits)

    def pause_owner(self, owner_id: int, reason: str) -> int:
        """Pause every running bot of ``owner_id`` (exits keep protecting positions). Returns how many."""
        paused = 0
        for runner in self.owners.bots(owner_id):
            if runner.status == "running":
                self._set_status(runner, "paused", reason)
                paused += 1
        return paused

    async def _enforce_limits(self) -> None:
        self.enforce_account_limits()

    def enforce_account_limits(self) -> None:
        """The account-wide daily loss, checked across each owner's bots (every heartbeat, off the tick path)."""
        now = self.clock.now()
        for owner_id, reason in self.owners.daily_loss_breaches(now):
            self.pause_owner(owner_id, reason)
