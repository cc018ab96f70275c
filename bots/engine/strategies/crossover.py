"""SMA/EMA crossover."""

from __future__ import annotations

from typing import Any

from marketdata.feeds.types import Candle

from ..indicators import make_average
from .base import Param, Signal, Strategy, StrategyContext, timeframe_param


class Crossover(Strategy):
    """Trend following: buys when the fast moving average crosses above the slow one and sells the
    whole position when it crosses back below. ``average`` picks SMA or EMA; with ``timeframe`` a
    candle interval the averages run on closed candles (warmed up from the venue's klines), with
    ``tick`` on every price. Each cross acts once; a cross that comes while an order is in flight
    acts as soon as that order has ended (the opposite cross cancels it)."""

    name = "crossover"
    title = "SMA/EMA crossover"
    params = (
        Param("fast_period", "int", "Periods of the fast average.", default=9, min=1, max=1000),
        Param("slow_period", "int", "Periods of the slow average (more than the fast one).", default=21,
              min=2, max=5000),
        Param("average", "choice", "Simple or exponential moving average.", default="sma",
              choices=("sma", "ema")),
        timeframe_param(),
    )
    aliases = {"fast": "fast_period", "slow": "slow_period", "kind": "average"}

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.fast = make_average(self.p["average"], self.p["fast_period"])
        self.slow = make_average(self.p["average"], self.p["slow_period"])
        self.warmup = self.p["slow_period"] + 1
        self._sign = 0
        self._armed = 0

    @classmethod
    def check(cls, cleaned: dict[str, Any]) -> dict[str, str]:
        if cleaned["fast_period"] >= cleaned["slow_period"]:
            return {"slow_period": "Must be greater than the fast period."}
        return {}

    def _cross(self, price: Any) -> int:
        """Update both averages; +1 on an upward cross, -1 on a downward one, else 0."""
        fast = self.fast.update(price)
        slow = self.slow.update(price)
        if fast is None or slow is None or fast == slow:
            return 0
        sign = 1 if fast > slow else -1
        prev, self._sign = self._sign, sign
        return sign if prev and prev != sign else 0

    def _decide(self, ctx: StrategyContext, cross: int) -> Signal | None:
        # A cross arms one action that waits until it can be taken (no order in flight, the right
        # position), so a cross during an in-flight order is not lost; the opposite cross disarms it.
        if cross:
            self._armed = cross
        if not self._armed or ctx.open_orders:
            return None
        data = {"fast": str(self.fast.value), "slow": str(self.slow.value)}
        if self._armed > 0 and ctx.position_qty == 0:
            self._armed = 0
            return Signal("buy", "fast average crossed above slow", data=data)
        if self._armed < 0 and ctx.position_qty > 0:
            self._armed = 0
            return Signal("sell", "fast average crossed below slow", purpose="exit", data=data)
        return None

    def on_tick(self, ctx: StrategyContext) -> Signal | None:
        if self.timeframe != "tick" or ctx.price is None:
            return None
        return self._decide(ctx, self._cross(ctx.price))

    def on_candle(self, ctx: StrategyContext, candle: Candle) -> Signal | None:
        return self._decide(ctx, self._cross(candle.close))

    def warm_up(self, candles: list[Candle]) -> None:
        for candle in candles:
            self._cross(candle.close)
        self._armed = 0  # history sets the regime; only a live cross acts
