"""One hosted bot: its strategy, position, orders and the synchronous per-tick evaluation.

The tick path (``on_ticker``) is synchronous and allocation-light: it updates the context, checks
exits, asks the strategy and, when a signal passes risk, hands an order to the engine, which sends
it in a task (store first, then gateway) so no tick waits on a database or a network.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from marketdata.feeds.types import Candle, Ticker

from . import risk
from .accounts import OwnerBook
from .ports import Gateway
from .positions import Position
from .strategies import Signal, Strategy, StrategyContext, build_strategy
from .types import (
    EXIT_PURPOSES,
    FINAL_STATUSES,
    PROTECTIVE_STOP,
    ZERO,
    BotSpec,
    Fill,
    Order,
    OrderUpdate,
    new_client_order_id,
)


class BotRunner:
    """A bot as the engine hosts it."""

    def __init__(self, spec: BotSpec, gateway: Gateway, place: Callable[[BotRunner, Order], None],
                 emit: Callable[..., None], clock_mono: Callable[[], float], price_interval: float) -> None:
        self.spec = spec
        self.gateway = gateway
        self._place = place
        self._emit = emit
        self._mono = clock_mono
        self.price_interval = price_interval
        self.strategy: Strategy = build_strategy(spec.strategy, spec.params)
        self.ctx = StrategyContext(spec.capital)
        base, _, quote = spec.instrument.symbol.partition("/")
        self.base, self.quote = spec.rules.base or base, spec.rules.quote or quote
        self.position = Position(self.base)
        self.position.dust = spec.rules.quantity_step
        self.orders: dict[str, Order] = {}
        self.status = "starting"
        self.status_reason = ""
        self.inflight = 0
        self.ticks = 0
        self._last_price_emit = -1e18
        self._last_rejection: tuple[str, ...] = ()
        self._last_rejection_at = -1e18
        self._repeats = 0
        self.pause_requested: str | None = None
        self.close_requested = False  # sell the whole position at the next price (a person asked)
        self.pause_owner = False  # the pause asked for is account-wide (every bot of the owner)
        self.owner_book: OwnerBook[BotRunner] | None = None  # set by the engine: account-wide limits across bots
        self.entry_gate: Callable[[], str | None] | None = None  # set by the engine: why entries wait, if they do
        self.taker_fee = ZERO  # the gateway's rate (paper: the venue's published tier; live: the account's)
        self.exit_retry_seconds = 5.0
        self._exit_retry_at = -1e18

    # Tick path ------------------------------------------------------------------------------------
    def on_ticker(self, t: Ticker, now: datetime, mono: float | None = None, price: Decimal | None = None) -> None:
        """Evaluate one price update: exits first, then the strategy (running bots only). ``mono`` and
        ``price`` (``t.price``) are read once for all the bots on the tick (here when not given)."""
        if price is None:
            price = t.price
            if price is None:
                return
        ctx = self.ctx
        ctx.price, ctx.bid, ctx.ask, ctx.now = price, t.bid, t.ask, now
        self.ticks += 1
        if mono is None:
            mono = self._mono()
        if mono - self._last_price_emit >= self.price_interval:
            self._last_price_emit = mono
            self._emit(self.spec, "price", {"price": price, "bid": t.bid, "ask": t.ask,
                                            "volume_24h": t.volume_24h, "time": now})
        position = self.position
        if self.close_requested and not self.inflight:
            self.close_requested = False
            if position.quantity:
                self.signal(Signal("sell", "position closed by request", purpose="exit"))
                return
        if position.quantity and mono >= self._exit_retry_at:
            hit = position.check_exit(price)
            if hit is not None:
                self.signal(Signal("sell", hit[1], purpose=hit[0]))
                return
            if self.spec.risk.max_daily_loss and risk.daily_loss_breached(
                    self.spec, position.daily_pnl(price, now)) and self.status == "running":
                self.pause_requested = "Daily loss limit reached"
        # The strategy always sees the price (its indicators stay current while paused or while an
        # order is in flight); only its signals are dropped then.
        sig = self.strategy.on_tick(ctx)
        if sig is not None and self.status == "running" and not self.inflight:
            self.signal(sig)

    def on_candle(self, candle: Candle) -> None:
        """Pass a closed candle to a bar strategy."""
        sig = self.strategy.on_candle(self.ctx, candle)
        if sig is not None and self.status == "running" and not self.inflight:
            self.signal(sig)

    def signal(self, sig: Signal) -> None:
        """Risk-check a signal and, if approved, create the order and hand it to the engine."""
        ctx = self.ctx
        now = ctx.now
        assert now is not None
        base_balance = self.gateway.balance(self.spec.id, self.base)
        if base_balance is not None and sig.side == "sell":
            # what a protective stop holds on the venue is freed by cancelling it before the sell
            base_balance += sum((o.remaining for o in self.orders.values()
                                 if o.purpose == PROTECTIVE_STOP and o.is_open), ZERO)
        inputs = risk.RiskInputs(
            bid=ctx.bid, ask=ctx.ask, last=ctx.price, position_qty=self.position.quantity,
            position_cost=self.position.cost, open_orders=self.open_order_count(),
            last_order_at=ctx.last_order_at, now=now,
            daily_pnl=self.position.daily_pnl(ctx.price, now),
            quote_balance=self.gateway.balance(self.spec.id, self.quote),
            base_balance=base_balance, taker_fee=self.taker_fee,
            account=self.owner_book.state(self.spec.owner_id, now)
            if self.owner_book is not None and sig.side == "buy" else None,
            entries_held=self.entry_gate() if self.entry_gate is not None and sig.side == "buy" else None)
        decision = risk.check(self.spec, sig, inputs)
        if not decision.approved:
            self._rejected(sig, decision)
            return
        self._emit_signal(sig)
        self._emit(self.spec, "risk", {"approved": True, "side": sig.side, "quantity": decision.quantity,
                                       "reason": sig.reason})
        order = Order(new_client_order_id(self.spec.id), self.spec.id, self.spec.instrument, sig.side,
                      sig.type, decision.quantity, decision.price, now, purpose=sig.purpose)
        self.orders[order.client_order_id] = order
        ctx.open_orders += 1
        self.inflight += 1
        ctx.last_order_at = now
        if sig.side == "sell" and sig.purpose in EXIT_PURPOSES:
            self.position.exit_order_id = order.client_order_id
        self._place(self, order)

    def retry_exit_later(self) -> None:
        """An exit that did not go is tried again, but not on every tick."""
        self._exit_retry_at = self._mono() + self.exit_retry_seconds

    def _emit_signal(self, sig: Signal) -> None:
        self._emit(self.spec, "signal", {"side": sig.side, "reason": sig.reason, "purpose": sig.purpose,
                                         "price": self.ctx.price, **sig.data}, persist=True)

    def _rejected(self, sig: Signal, decision: risk.RiskDecision) -> None:
        if decision.pause:
            self.pause_requested = decision.reasons[decision.codes.index("account_daily_loss")] \
                if decision.pause_owner else decision.reasons[0]
            self.pause_owner = decision.pause_owner
        key = tuple(decision.codes)
        mono = self._mono()
        if sig.purpose in EXIT_PURPOSES:  # a refused exit is retried, but not on every tick
            self._exit_retry_at = mono + self.exit_retry_seconds
        # The same rejection every tick would flood the audit log: it (and its signal) is recorded at
        # most once a minute, and that record counts the identical rejections since the previous one.
        if key == self._last_rejection and mono - self._last_rejection_at < 60:
            self._repeats += 1
            return
        repeats, self._repeats = self._repeats if key == self._last_rejection else 0, 0
        self._last_rejection, self._last_rejection_at = key, mono
        self._emit_signal(sig)
        self._emit(self.spec, "risk", {"approved": False, "side": sig.side, "reason": sig.reason,
                                       "reasons": decision.reasons, "codes": decision.codes,
                                       "repeats_since_last": repeats}, persist=True)

    # Orders ---------------------------------------------------------------------------------------
    def open_order_count(self) -> int:
        """Open orders the strategy and risk count (a protective stop guards the position, not one)."""
        return sum(1 for o in self.orders.values() if o.is_open and o.purpose != PROTECTIVE_STOP)

    def apply_update(self, update: OrderUpdate) -> tuple[Order, list[Fill]] | None:
        """Apply a gateway report to its order and the position; return the order and its new fills."""
        order = self.orders.get(update.client_order_id)
        if order is None:
            return None
        new_fills = []
        for fill in update.fills:
            if fill.trade_id in order.fill_ids:
                continue
            order.fill_ids.add(fill.trade_id)
            order.apply_fill(fill)
            self.position.apply_fill(fill, self.spec.risk)
            new_fills.append(fill)
        if update.exchange_order_id:
            order.exchange_order_id = update.exchange_order_id
        if update.error:
            order.last_error = update.error
        if order.status not in FINAL_STATUSES or new_fills:
            status = update.status
            if order.filled_quantity and order.filled_quantity >= order.quantity:
                status = "filled"
            elif status in ("open", "submitted") and order.filled_quantity:
                status = "partially_filled"
            order.status = status
        if new_fills or order.status in FINAL_STATUSES:
            self.sync_context()
        if order.status in FINAL_STATUSES and self.position.exit_order_id == order.client_order_id:
            self.position.release_exit(order.client_order_id)
            if order.status != "filled":
                # A refused exit is retried, but not on every tick.
                self._exit_retry_at = self._mono() + self.exit_retry_seconds
        return order, new_fills

    def sync_context(self) -> None:
        """Copy the position and open-order count into what the strategy sees."""
        ctx, position = self.ctx, self.position
        ctx.position_qty, ctx.average_entry = position.quantity, position.average_entry
        ctx.open_orders = self.open_order_count()
