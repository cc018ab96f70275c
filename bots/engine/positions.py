"""A bot's position: average entry, realised and unrealised P&L, and the stop-loss, take-profit and
trailing-stop levels checked on every tick. Spot, long only: buys open or add, sells reduce.

An exit is sent once: ``exit_order_id`` holds the in-flight exit and ``check_exit`` stays silent
until that order ends (filled, or failed and released with ``release_exit``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .types import ZERO, Fill, RiskSettings, amount

HUNDRED = Decimal(100)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class Position:
    """One bot's position in its market."""

    __slots__ = ("quantity", "avg_entry", "realized_pnl", "realized_total", "fees", "realized_today", "day",
                 "stop_price", "take_profit_price", "trail_high", "trail_pct", "exit_order_id",
                 "opened_at", "closed_at", "base", "dust", "trail_moved", "fills")

    def __init__(self, base: str = "") -> None:
        self.quantity = ZERO
        self.avg_entry: Decimal | None = None
        self.realized_pnl = ZERO  # of the current (or last closed) position
        self.realized_total = ZERO  # of the bot, across positions (paper balances, reports)
        self.fees = ZERO
        self.realized_today = ZERO
        self.day: date | None = None
        self.stop_price: Decimal | None = None
        self.take_profit_price: Decimal | None = None
        self.trail_high: Decimal | None = None
        self.trail_pct: Decimal | None = None
        self.exit_order_id: str | None = None
        self.opened_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.base = base
        # Less than one quantity step cannot be sold: a sell that leaves only that closes the position
        # (e.g. after a venue took its fee in the base asset).
        self.dust = ZERO
        self.trail_moved = False  # the trailing high rose since the position was last saved
        # Fills applied, over the bot's life in this market: the store refuses a snapshot that knows
        # fewer fills than are recorded (reconciliation wrote one the engine has not applied yet).
        self.fills = 0

    @property
    def is_open(self) -> bool:
        return self.quantity > 0

    @property
    def cost(self) -> Decimal:
        return self.quantity * (self.avg_entry or ZERO)

    def unrealized(self, price: Decimal | None) -> Decimal:
        """Mark-to-market P&L of the open quantity at ``price``."""
        if price is None or not self.quantity or self.avg_entry is None:
            return ZERO
        return (price - self.avg_entry) * self.quantity

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
        self.fills += 1
        fee_quote = amount(fill.fee * fill.price) if fill.fee_asset and fill.fee_asset == self.base else fill.fee
        qty = fill.quantity
        realized = -fee_quote
        if fill.side == "buy":
            if fill.fee_asset and fill.fee_asset == self.base:
                qty -= fill.fee  # the venue kept its fee out of what we received
            total = self.quantity + qty
            self.avg_entry = amount((self.cost + fill.price * qty) / total) if total else None
            if not self.quantity:  # a new position: its own P&L and fees start at zero
                self.opened_at, self.closed_at = fill.time, None
                self.realized_pnl = self.fees = ZERO
            self.quantity = total
            self._set_levels(risk, fill.price)
        else:
            qty = min(qty, self.quantity)
            realized += amount((fill.price - (self.avg_entry or fill.price)) * qty)
            self.quantity -= qty
            if self.quantity < self.dust:
                self.quantity = ZERO
            if not self.quantity:
                self.avg_entry = None
                self.closed_at = fill.time
                self.stop_price = self.take_profit_price = self.trail_high = None
        self.fees += fee_quote
        self.realized_pnl += realized
        self.realized_total += realized
        self.realized_today += realized
        return realized

    def _set_levels(self, risk: RiskSettings, price: Decimal) -> None:
        avg = self.avg_entry
        if avg is None:
            return
        self.stop_price = amount(avg * (1 - risk.stop_loss_pct / HUNDRED)) if risk.stop_loss_pct else None
        self.take_profit_price = amount(avg * (1 + risk.take_profit_pct / HUNDRED)) if risk.take_profit_pct else None
        self.trail_pct = risk.trailing_stop_pct or None
        if self.trail_pct:
            self.trail_high = max(self.trail_high or price, price)

    def reset_levels(self, risk: RiskSettings) -> None:
        """Recompute the levels from the average entry (after the risk settings were reloaded)."""
        if self.avg_entry is not None:
            self._set_levels(risk, self.trail_high or self.avg_entry)

    def check_exit(self, price: Decimal) -> tuple[str, str] | None:
        """``(code, reason)`` if ``price`` triggers stop-loss, take-profit or trailing stop, else None.
        Silent while an exit is in flight."""
        if self.quantity <= 0 or self.exit_order_id is not None:
            return None
        if self.stop_price is not None and price <= self.stop_price:
            return "stop_loss", f"stop-loss at {self.stop_price.normalize():f}"
        if self.take_profit_price is not None and price >= self.take_profit_price:
            return "take_profit", f"take-profit at {self.take_profit_price.normalize():f}"
        if self.trail_pct is not None and self.trail_high is not None:
            if price > self.trail_high:
                self.trail_high = price
                self.trail_moved = True
                return None
            trigger = self.trail_high * (1 - self.trail_pct / HUNDRED)
            if price <= trigger:
                return "trailing_stop", (f"trailing stop at {trigger.normalize():f} "
                                         f"(high {self.trail_high.normalize():f})")
        return None

    def release_exit(self, client_order_id: str) -> None:
        """Forget the in-flight exit once it has ended."""
        if self.exit_order_id == client_order_id:
            self.exit_order_id = None

    def to_dict(self) -> dict[str, Any]:
        """The durable form (Decimals as strings) the store writes."""
        def s(v: Any) -> Any:
            return None if v is None else str(v) if isinstance(v, Decimal) else v.isoformat() \
                if isinstance(v, datetime) else v
        data = {k: s(getattr(self, k)) for k in (
            "quantity", "avg_entry", "realized_pnl", "realized_total", "fees", "stop_price", "take_profit_price",
            "trail_high", "exit_order_id", "opened_at", "closed_at")}
        data["trail_stop_price"] = s(self.trail_stop_price)
        data["fills"] = self.fills
        return data

    @property
    def trail_stop_price(self) -> Decimal | None:
        """Where the trailing stop would sell now (None without one)."""
        if self.trail_pct is None or self.trail_high is None or not self.quantity:
            return None
        return amount(self.trail_high * (1 - self.trail_pct / HUNDRED))

    @classmethod
    def from_dict(cls, data: dict[str, Any], risk: RiskSettings, base: str = "",
                  today: date | None = None) -> Position:
        """Rebuild a position after a restart (``realized_today`` counts for ``today``)."""
        p = cls(base)
        p.quantity = _dec(data.get("quantity")) or ZERO
        p.avg_entry = _dec(data.get("avg_entry"))
        p.realized_pnl = _dec(data.get("realized_pnl")) or ZERO
        p.realized_total = _dec(data.get("realized_total")) or p.realized_pnl
        if data.get("realized_today") is not None:
            p.realized_today = _dec(data["realized_today"]) or ZERO
            p.day = today or None
        p.fees = _dec(data.get("fees")) or ZERO
        p.trail_high = _dec(data.get("trail_high"))
        p.exit_order_id = data.get("exit_order_id")
        p.fills = int(data.get("fills") or 0)
        for key in ("opened_at", "closed_at"):
            value = data.get(key)
            setattr(p, key, datetime.fromisoformat(value) if isinstance(value, str) else value)
        if p.quantity:
            p.reset_levels(risk)
            stop, tp = _dec(data.get("stop_price")), _dec(data.get("take_profit_price"))
            p.stop_price = stop if stop is not None else p.stop_price
            p.take_profit_price = tp if tp is not None else p.take_profit_price
        return p
