"""Pre-trade risk validation: every signal passes here before an order is made.

Pure and synchronous (it runs on the tick path). All reasons are collected, not only the first, so
the ``BotEvent`` for a rejection says everything that was wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .accounts import AccountState, check_account
from .strategies.base import Signal
from .types import ZERO, BotSpec, round_step

NO_PRICE = "Market price not available"


@dataclass(slots=True)
class RiskInputs:
    """The bot's state the checks need."""

    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    position_qty: Decimal
    position_cost: Decimal
    open_orders: int
    last_order_at: datetime | None
    now: datetime
    daily_pnl: Decimal
    quote_balance: Decimal | None
    base_balance: Decimal | None
    taker_fee: Decimal = ZERO
    account: AccountState | None = None  # the owner's totals across bots, when they set limits
    entries_held: str | None = None  # why the engine takes no new entries now (its writes are behind)


@dataclass(slots=True)
class RiskDecision:
    """Approved with a rounded quantity (and price for limits), or rejected with its reasons.
    ``pause`` asks the engine to pause the bot (the daily-loss limit)."""

    approved: bool
    quantity: Decimal = ZERO
    price: Decimal | None = None
    reasons: list[str] = field(default_factory=list)
    pause: bool = False
    codes: list[str] = field(default_factory=list)  # one stable code per reason, for filters and dedup
    pause_owner: bool = False  # the account-wide daily loss: pause every bot of the owner


def daily_loss_breached(spec: BotSpec, daily_pnl: Decimal) -> bool:
    """True once today's P&L (realised + unrealised) is at or below minus the max daily loss."""
    limit = spec.risk.max_daily_loss
    return limit is not None and limit != 0 and daily_pnl <= -limit


def check(spec: BotSpec, signal: Signal, s: RiskInputs) -> RiskDecision:
    """Validate a signal against the bot's limits and the market rules."""
    reference = s.ask if signal.side == "buy" else s.bid
    reference = reference or s.last
    if reference is None or reference <= 0:
        return RiskDecision(False, reasons=[NO_PRICE], codes=["no_price"])
    rules, risk = spec.rules, spec.risk
    reasons: list[str] = []
    codes: list[str] = []

    def add(code: str, message: str) -> None:
        codes.append(code)
        reasons.append(message)

    limit_price = None
    if signal.type != "market":
        if signal.price is None:
            return RiskDecision(False, reasons=[f"A {signal.type} order needs a price"], codes=["no_limit_price"])
        limit_price = round_step(signal.price, rules.price_tick)
        reference = limit_price
    is_exit = signal.side == "sell"
    pause = False
    if signal.side == "buy":
        if s.entries_held:
            add("write_backlog", s.entries_held)
        if daily_loss_breached(spec, s.daily_pnl):
            add("daily_loss", f"Daily loss {-s.daily_pnl} reached the limit {risk.max_daily_loss}")
            pause = True
        if risk.order_quantity is not None and signal.amount is None:
            quantity = round_step(risk.order_quantity, rules.quantity_step)
        else:
            amount = signal.amount or risk.order_size or spec.capital
            room = spec.capital - s.position_cost
            if amount > room:
                amount = room
            whole = not (signal.amount or risk.order_size)  # "all the capital": what is left of it
            if s.quote_balance is not None and (whole or s.quote_balance >= amount) \
                    and amount > s.quote_balance / (1 + s.taker_fee):
                # Only the fee does not fit (or a loss left less than the capital): shrink the order, or a
                # whole-capital buy is refused by its fee, and after one losing trade by the balance.
                amount = s.quote_balance / (1 + s.taker_fee)
            quantity = round_step(amount / reference, rules.quantity_step) if amount > 0 else ZERO
        if quantity <= 0:
            add("capital", "Capital left is too small for one quantity step")
        notional = quantity * reference
        if risk.max_position is not None and s.position_qty + quantity > risk.max_position:
            add("max_position", f"Position would exceed the maximum of {risk.max_position}")
        if s.quote_balance is not None and notional * (1 + s.taker_fee) > s.quote_balance:
            add("balance", f"Insufficient {rules.quote or 'quote'} balance: {s.quote_balance} available")
    else:
        wanted = signal.quantity if signal.quantity is not None else s.position_qty
        quantity = round_step(min(wanted, s.position_qty), rules.quantity_step)
        if quantity <= 0:
            return RiskDecision(False, reasons=["No position to sell"], codes=["no_position"])
        notional = quantity * reference
        if s.base_balance is not None and quantity > s.base_balance:
            add("balance", f"Insufficient {rules.base or 'base'} balance: {s.base_balance} available")
    if quantity > 0 and notional < rules.min_notional:
        add("min_notional", f"Order value {notional:.8f} is below the minimum notional {rules.min_notional}")
    pause_owner = False
    if not is_exit:
        if s.account is not None:
            found, pause_owner = check_account(s.account, notional)
            for code, message in found:
                add(code, message)
        if s.open_orders >= risk.max_open_orders:
            add("max_open_orders", f"Already {s.open_orders} open orders (max {risk.max_open_orders})")
        if risk.cooldown_seconds and s.last_order_at is not None:
            waited = (s.now - s.last_order_at).total_seconds()
            if waited < risk.cooldown_seconds:
                add("cooldown", f"Cooldown: {risk.cooldown_seconds - waited:.1f}s left")
    if reasons:
        return RiskDecision(False, quantity, limit_price, reasons, pause or pause_owner, codes, pause_owner)
    return RiskDecision(True, quantity, limit_price)
