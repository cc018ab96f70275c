"""A bot's position: average entry, realised and unrealised P&L, and the stop-loss, take-profit and
trailing-stop levels checked on every tick. Spot, long only: buys open or add, sells reduce.

An exit is sent once: ``exit_order_id`` holds the in-flight exit and ``check_exit`` stays silent
until that order ends (filled, or failed and released with ``release_exit``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from marketdata.feeds.serialize import decimal_text

from .types import ZERO, Fill, RiskSettings, amount

HUNDRED = Decimal(100)
# The amounts of the durable form, named as the ``Position`` row's columns: the one key set that the
# engine, the store, reconciliation and the browser payloads share (``bots.services.rows`` maps them).
AMOUNTS = ("quantity", "average_entry", "realized_pnl", "fees", "stop_loss_price", "take_profit_price",
           "highest_price", "trailing_stop_price")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class Position:
    """One bot's position in its market."""

    __slots__ = ("quantity", "average_entry", "realized_pnl", "realized_total", "fees", "realized_today", "day",
                 "stop_loss_price", "take_profit_price", "highest_price", "trail_pct", "exit_order_id",
                 "opened_at", "closed_at", "base", "dust", "trail_moved")

    def __init__(self, base: str = "") -> None:
        self.quantity = ZERO
        self.average_entry: Decimal | None = None
        self.realized_pnl = ZERO  # of the current (or last closed) position
        self.realized_total = ZERO  # of the bot, across positions (paper balances, reports)
        self.fees = ZERO
        self.realized_today = ZERO
        self.day: date | None = None
        self.stop_loss_price: Decimal | None = None
        self.take_profit_price: Decimal | None = None
        self.highest_price: Decimal | None = None
        self.trail_pct: Decimal | None = None
        self.exit_order_id: str | None = None
        self.opened_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.base = base
        # Less than one quantity step cannot be sold: a sell that leaves only that closes the position
        # (e.g. after a venue took its fee in the base asset).
        self.dust = ZERO
        self.trail_moved = False  # the trailing high rose since the position was last saved

    @property
    def is_open(self) -> bool:
        return self.quantity > 0

    @property
    def cost(self) -> Decimal:
        return self.quantity * (self.average_entry or ZERO)

    def unrealized(self, price: Decimal | None) -> Decimal:
        """Mark-to-market P&L of the open quantity at ``price``."""
        if price is None or not self.quantity or self.average_entry is None:
            return ZERO
        return (price - self.average_entry) * self.quantity

    def daily_pnl(self, price: Decimal | None, now: datetime) -> Decimal:
        """Today's realised P&L plus the open position's unrealised P&L."""
        self._roll(now)
        return self.realized_today + self.unrealized(price)

    def _roll(self, now: datetime) -> None:
        today = now.date()
        if self.day != today:
            self.day = today
            self.realized_today = ZERO

    def apply_fill(self, fill: Fill, risk: RiskSettings) -> Decimal:
        """Update quantity, average entry, P&L and exit levels for one fill; return the realised P&L."""
        self._roll(fill.time)
        fee_quote = amount(fill.fee * fill.price) if fill.fee_asset and fill.fee_asset == self.base else fill.fee
        qty = fill.quantity
        realized = -fee_quote
        if fill.side == "buy":
            if fill.fee_asset and fill.fee_asset == self.base:
                qty -= fill.fee  # the venue kept its fee out of what we received
            total = self.quantity + qty
            self.average_entry = amount((self.cost + fill.price * qty) / total) if total else None
            if not self.quantity:  # a new position: its own P&L and fees start at zero
                self.opened_at, self.closed_at = fill.time, None
                self.realized_pnl = self.fees = ZERO
            self.quantity = total
            self._set_levels(risk, fill.price)
        else:
            qty = min(qty, self.quantity)
            realized += amount((fill.price - (self.average_entry or fill.price)) * qty)
            self.quantity -= qty
            if self.quantity < self.dust:
                self.quantity = ZERO
            if not self.quantity:
                self.average_entry = None
                self.closed_at = fill.time
                self.stop_loss_price = self.take_profit_price = self.highest_price = None
        self.fees += fee_quote
        self.realized_pnl += realized
        self.realized_total += realized
        self.realized_today += realized
        return realized

    def _set_levels(self, risk: RiskSettings, price: Decimal) -> None:
        avg = self.average_entry
        if avg is None:
            return
        self.stop_loss_price = amount(avg * (1 - risk.stop_loss_pct / HUNDRED)) if risk.stop_loss_pct else None
        self.take_profit_price = amount(avg * (1 + risk.take_profit_pct / HUNDRED)) if risk.take_profit_pct else None
        self.trail_pct = risk.trailing_stop_pct or None
        if self.trail_pct:
            self.highest_price = max(self.highest_price or price, price)

    def reset_levels(self, risk: RiskSettings) -> None:
        """Recompute the levels from the average entry (after the risk settings were reloaded)."""
        if self.average_entry is not None:
            self._set_levels(risk, self.highest_price or self.average_entry)

    def check_exit(self, price: Decimal) -> tuple[str, str] | None:
        """``(code, reason)`` if ``price`` triggers stop-loss, take-profit or trailing stop, else None.
        Silent while an exit is in flight."""
        if self.quantity <= 0 or self.exit_order_id is not None:
            return None
        if self.stop_loss_price is not None and price <= self.stop_loss_price:
            return "stop_loss", f"stop-loss at {decimal_text(self.stop_loss_price)}"
        if self.take_profit_price is not None and price >= self.take_profit_price:
            return "take_profit", f"take-profit at {decimal_text(self.take_profit_price)}"
        if self.trail_pct is not None and self.highest_price is not None:
            if price > self.highest_price:
                self.highest_price = price
                self.trail_moved = True
                return None
            trigger = self.highest_price * (1 - self.trail_pct / HUNDRED)
            if price <= trigger:
                return "trailing_stop", (f"trailing stop at {decimal_text(trigger)} "
                                         f"(high {decimal_text(self.highest_price)})")
        return None

    def release_exit(self, client_order_id: str) -> None:
        """Forget the in-flight exit once it has ended."""
        if self.exit_order_id == client_order_id:
            self.exit_order_id = None

    def to_dict(self) -> dict[str, Any]:
        """The durable form the store writes: the row's column names (``AMOUNTS``, as exact text),
        the bot's running total, the exit in flight and the times (ISO 8601)."""
        data: dict[str, Any] = {k: decimal_text(getattr(self, k)) for k in AMOUNTS}
        data["realized_total"] = decimal_text(self.realized_total)
        data["exit_order_id"] = self.exit_order_id
        for key in ("opened_at", "closed_at"):
            value = getattr(self, key)
            data[key] = value.isoformat() if value is not None else None
        return data

    @property
    def trailing_stop_price(self) -> Decimal | None:
        """Where the trailing stop would sell now (None without one)."""
        if self.trail_pct is None or self.highest_price is None or not self.quantity:
            return None
        return amount(self.highest_price * (1 - self.trail_pct / HUNDRED))

    @classmethod
    def from_dict(cls, data: dict[str, Any], risk: RiskSettings, base: str = "",
                  today: date | None = None) -> Position:
        """Rebuild a position after a restart (``realized_today`` counts for ``today``)."""
        p = cls(base)
        p.quantity = _dec(data.get("quantity")) or ZERO
        p.average_entry = _dec(data.get("average_entry"))
        p.realized_pnl = _dec(data.get("realized_pnl")) or ZERO
        p.realized_total = _dec(data.get("realized_total")) or p.realized_pnl
        if data.get("realized_today") is not None:
            p.realized_today = _dec(data["realized_today"]) or ZERO
            p.day = today or None
        p.fees = _dec(data.get("fees")) or ZERO
        p.highest_price = _dec(data.get("highest_price"))
        p.exit_order_id = data.get("exit_order_id")
        for key in ("opened_at", "closed_at"):
            value = data.get(key)
            setattr(p, key, datetime.fromisoformat(value) if isinstance(value, str) else value)
        if p.quantity:
            p.reset_levels(risk)
            stop, tp = _dec(data.get("stop_loss_price")), _dec(data.get("take_profit_price"))
            p.stop_loss_price = stop if stop is not None else p.stop_loss_price
            p.take_profit_price = tp if tp is not None else p.take_profit_price
        return p
