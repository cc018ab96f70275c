"""Grid trading."""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal
from typing import Any

from .base import Param, Signal, Strategy, StrategyContext


def held_units(ctx: StrategyContext, amount: Decimal) -> int:
    """How many ``amount``-sized buys the current position represents (rebuilt after a restart)."""
    if ctx.position_qty <= 0 or not ctx.average_entry:
        return 0
    return max(1, int((ctx.position_qty * ctx.average_entry / amount).to_integral_value()))


class Grid(Strategy):
    """Range trading: ``levels`` evenly spaced prices from ``lower`` to ``upper``. Each time the
    price falls through a level it buys ``amount_per_level`` (quote); each time it rises through one
    it sells one level's worth of the position. Outside the range it does nothing."""

    name = "grid"
    title = "Grid"
    params = (
        Param("lower", "decimal", "Lowest grid price.", min=Decimal("0.00000001")),
        Param("upper", "decimal", "Highest grid price.", min=Decimal("0.00000001")),
        Param("levels", "int", "Number of grid lines, including both ends.", default=10, min=2, max=500),
        Param("amount_per_level", "decimal", "Quote amount bought at each level.", min=Decimal("0.00000001")),
    )

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        lo, hi, n = self.p["lower"], self.p["upper"], self.p["levels"]
        step = (hi - lo) / (n - 1)
        self.lines = [lo + step * i for i in range(n)]
        self._index: int | None = None

    @classmethod
    def check(cls, cleaned: dict[str, Any]) -> dict[str, str]:
        if cleaned["upper"] <= cleaned["lower"]:
            return {"upper": "Must be greater than the lower price."}
        return {}

    def on_tick(self, ctx: StrategyContext) -> Signal | None:
        price = ctx.price
        if price is None:
            return None
        index = bisect_right(self.lines, price)
        prev, self._index = self._index, index
        if prev is None or index == prev or index == 0 or index == len(self.lines):
            return None  # first price, same band, or outside the range
        amount = self.p["amount_per_level"]
        units = held_units(ctx, amount)
        if index < prev and units < len(self.lines) - 1:
            return Signal("buy", f"price fell through grid line {self.lines[index]}", amount=amount,
                          purpose="grid", data={"line": str(self.lines[index])})
        if index > prev and units > 0:
            return Signal("sell", f"price rose through grid line {self.lines[index - 1]}",
                          quantity=ctx.position_qty / units, purpose="grid",
                          data={"line": str(self.lines[index - 1])})
        return None
