"""RSI mean reversion."""

from __future__ import annotations

from typing import Any

from marketdata.feeds.types import Candle

from ..indicators import RSI
from .base import Param, Signal, Strategy, StrategyContext, timeframe_param


class RsiReversion(Strategy):
    """Mean reversion: buys when Wilder's RSI falls below ``oversold`` and sells the whole position
    when it rises above ``overbought``."""

    name = "rsi"
    title = "RSI mean reversion"
    params = (
        Param("period", "int", "RSI periods.", default=14, min=2, max=500),
        Param("oversold", "decimal", "Buy below this RSI.", default=30, min=1, max=99),
        Param("overbought", "decimal", "Sell above this RSI.", default=70, min=1, max=99),
        timeframe_param(),
    )

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.rsi = RSI(self.p["period"])
        self.warmup = self.p["period"] + 1

    @classmethod
    def check(cls, cleaned: dict[str, Any]) -> dict[str, str]:
        if cleaned["oversold"] >= cleaned["overbought"]:
            return {"overbought": "Must be greater than oversold."}
        return {}

    def _decide(self, ctx: StrategyContext, price: Any) -> Signal | None:
        value = self.rsi.update(price)
        if value is None or ctx.open_orders:
            return None
        if value < self.p["oversold"] and ctx.position_qty == 0:
            return Signal("buy", f"RSI {value:.2f} below {self.p['oversold']}", data={"rsi": str(value)})
        if value > self.p["overbought"] and ctx.position_qty > 0:
            return Signal("sell", f"RSI {value:.2f} above {self.p['overbought']}", purpose="exit",
                          data={"rsi": str(value)})
        return None

    def on_tick(self, ctx: StrategyContext) -> Signal | None:
        if self.timeframe != "tick" or ctx.price is None:
            return None
        return self._decide(ctx, ctx.price)

    def on_candle(self, ctx: StrategyContext, candle: Candle) -> Signal | None:
        return self._decide(ctx, candle.close)

    def warm_up(self, candles: list[Candle]) -> None:
        for candle in candles:
            self.rsi.update(candle.close)
