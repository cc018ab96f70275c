"""Dollar-cost averaging."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from .base import Param, Signal, Strategy, StrategyContext
from .grid import held_units


class Dca(Strategy):
    """Dollar-cost averaging: buys ``amount`` (quote) every ``interval_seconds``, up to ``max_buys``
    buys held at once (0: no limit). Exits come from the bot's take-profit / stop-loss settings. The
    schedule survives a restart: it is derived from the last order time and the position."""

    name = "dca"
    title = "DCA (dollar-cost averaging)"
    params = (
        Param("amount", "decimal", "Quote amount per buy.", min=Decimal("0.00000001")),
        Param("interval_seconds", "int", "Seconds between buys.", default=3600, min=1, max=31_536_000),
        Param("max_buys", "int", "Most buys held at once; 0 for no limit.", default=0, min=0, max=100_000),
    )

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.interval = timedelta(seconds=self.p["interval_seconds"])

    def on_tick(self, ctx: StrategyContext) -> Signal | None:
        if ctx.price is None or ctx.now is None:
            return None
        if ctx.last_order_at is not None and ctx.now - ctx.last_order_at < self.interval:
            return None
        max_buys = self.p["max_buys"]
        if max_buys and held_units(ctx, self.p["amount"]) >= max_buys:
            return None
        return Signal("buy", "scheduled DCA buy", amount=self.p["amount"], purpose="dca")
