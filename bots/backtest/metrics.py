"""Streaming performance accounting: equity per bar in, summary metrics out, in constant memory.

Money stays ``Decimal`` (equity, profit, fees, drawdown depth); ratios that are statistics by nature
(Sharpe, Sortino, CAGR) are computed in ``float`` at the end from daily equity. Conventions:

- returns for Sharpe and Sortino are daily (UTC days, the equity at each day's last bar), annualised
  with sqrt(365) because crypto trades every day; no risk-free rate. Fewer than two days: None.
- Sortino's downside deviation is the root mean square of the negative daily returns over all days.
- max drawdown is the deepest fall from a running peak of equity (in percent of that peak and in
  quote); its duration is the longest time from a peak until equity is back at it (or the end).
- exposure is the share of bars that ended with a position.
- buy-and-hold buys the capital's worth at the first bar's open (no fees) and marks it at the last close.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)
HUNDRED = Decimal(100)
DAY_MS = 86_400_000
YEAR_S = 365.25 * 86_400


@dataclass(slots=True)
class RoundTrip:
    """One closed position: from the first buy to the sell that brought it back to zero."""

    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal  # average of the buys
    exit_price: Decimal  # average of the sells
    quantity: Decimal
    pnl: Decimal  # realised, fees included
    fees: Decimal


class Samples:
    """At most about ``2 * limit`` evenly spaced points of a long series: when full, every other
    point is dropped and the stride doubles (constant memory, the whole range kept). The caller
    builds a point only when ``n % stride == 0`` (then ``add``) and counts every point in ``n``."""

    __slots__ = ("limit", "stride", "points", "n", "merge")

    def __init__(self, limit: int = 1000, merge: Callable[[Any, Any], Any] | None = None) -> None:
        self.limit, self.stride, self.n, self.merge = limit, 1, 0, merge
        self.points: list[Any] = []

    def add(self, point: Any) -> None:
        points = self.points
        points.append(point)
        if len(points) >= 2 * self.limit:
            if self.merge is None:
                del points[1::2]
            else:  # pairs become one point (e.g. two candles one wider candle)
                merge = self.merge
                self.points = [merge(points[i], points[i + 1]) for i in range(0, len(points) - 1, 2)]
            self.stride *= 2


def merge_ohlc(a: tuple[Any, ...], b: tuple[Any, ...]) -> tuple[Any, ...]:
    """Two consecutive (time, open, high, low, close) buckets as one."""
    return (a[0], a[1], max(a[2], b[2]), min(a[3], b[3]), b[4])


@dataclass(slots=True)
class Ledger:
    """Fed one equity value per bar by the backtest loop."""

    capital: Decimal
    peak: Decimal = ZERO
    peak_ms: int = 0
    max_dd_pct: Decimal = ZERO
    max_dd: Decimal = ZERO
    max_dd_ms: int = 0
    dd_from: int | None = None
    trough: Decimal = ZERO
    bars: int = 0
    exposed: int = 0
    day: int = -1
    equity: Decimal = ZERO
    first_ms: int | None = None
    last_ms: int = 0
    first_open: Decimal | None = None
    last_close: Decimal = ZERO
    daily: list[Decimal] = field(default_factory=list)
    curve: Samples = field(default_factory=Samples)

    def __post_init__(self) -> None:
        self.peak = self.equity = self.trough = self.capital

    def mark(self, ts_ms: int, equity: Decimal, holding: bool) -> None:
        """Record the equity at the end of the bar that closes at ``ts_ms``."""
        self.bars += 1
        if holding:
            self.exposed += 1
        day = ts_ms // DAY_MS
        if day != self.day:
            if self.day >= 0:
                self.daily.append(self.equity)
            self.day = day
        self.equity, self.last_ms = equity, ts_ms
        if equity >= self.peak:
            if self.dd_from is not None:  # back at the peak: that drawdown lasted this long
                if ts_ms - self.dd_from > self.max_dd_ms:
                    self.max_dd_ms = ts_ms - self.dd_from
                self.dd_from = None
            self.peak, self.peak_ms, self.trough = equity, ts_ms, equity
        else:
            if self.dd_from is None:
                self.dd_from = self.peak_ms
            if equity < self.trough:  # below a peak, the fall (and its share) is deepest at the trough
                self.trough = equity
                fall = self.peak - equity
                if fall > self.max_dd:
                    self.max_dd = fall
                if fall * HUNDRED > self.max_dd_pct * self.peak:
                    self.max_dd_pct = fall * HUNDRED / self.peak
        curve = self.curve
        if curve.n % curve.stride == 0:
            curve.add((ts_ms, float(equity), float((self.peak - equity) * HUNDRED / self.peak)))
        curve.n += 1

    def summary(self, trips: list[RoundTrip], fees: Decimal, rejected: int = 0) -> dict[str, Any]:
        """Every metric, money as ``Decimal`` and the rest as numbers (None where undefined)."""
        capital, final = self.capital, self.equity
        start_ms = self.first_ms if self.first_ms is not None else self.last_ms
        span_s = max(0.0, (self.last_ms - start_ms) / 1000)
        if self.dd_from is not None and self.last_ms - self.dd_from > self.max_dd_ms:
            self.max_dd_ms = self.last_ms - self.dd_from  # a drawdown still open at the end
        wins = [t.pnl for t in trips if t.pnl > 0]
        losses = [t.pnl for t in trips if t.pnl <= 0]
        gross_loss = -sum(losses, ZERO)
        net = final - capital
        hold_ratio = self.last_close / self.first_open if self.first_open else None
        sharpe, sortino = _ratios([*self.daily, final], capital)
        return {
            "start": _iso(start_ms), "end": _iso(self.last_ms), "bars": self.bars,
            "initial_capital": capital, "final_equity": final, "net_profit": net,
            "return_pct": net * HUNDRED / capital,
            "cagr_pct": _cagr(capital, final, span_s),
            "max_drawdown_pct": self.max_dd_pct, "max_drawdown": self.max_dd,
            "max_drawdown_duration_s": self.max_dd_ms // 1000,
            "sharpe": sharpe, "sortino": sortino,
            "trades": len(trips),
            "win_rate_pct": Decimal(len(wins)) * HUNDRED / len(trips) if trips else None,
            "profit_factor": sum(wins, ZERO) / gross_loss if gross_loss else None,
            "average_trade": sum((t.pnl for t in trips), ZERO) / len(trips) if trips else None,
            "exposure_pct": Decimal(self.exposed) * HUNDRED / self.bars if self.bars else ZERO,
            "fees": fees,
            "buy_and_hold_pct": (hold_ratio - 1) * HUNDRED if hold_ratio is not None else None,
            "buy_and_hold_profit": capital * (hold_ratio - 1) if hold_ratio is not None else None,
            "orders_rejected": rejected,
        }


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


# Under a month, compounding the return to a year gives numbers with twenty digits that say nothing.
MIN_CAGR_SPAN_S = 30 * 86_400


def _cagr(capital: Decimal, final: Decimal, span_s: float) -> float | None:
    if span_s < MIN_CAGR_SPAN_S or capital <= 0 or final <= 0:
        return None
    try:
        return ((float(final) / float(capital)) ** (YEAR_S / span_s) - 1) * 100
    except OverflowError:  # a few minutes' gain compounded to a year
        return None


def _ratios(daily: list[Decimal], capital: Decimal) -> tuple[float | None, float | None]:
    values = [float(capital), *(float(e) for e in daily)]
    returns = [b / a - 1 for a, b in zip(values, values[1:], strict=False) if a > 0]
    if len(returns) < 2:
        return None, None
    mean = sum(returns) / len(returns)
    sd = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    down = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / len(returns))
    scale = math.sqrt(365)
    return (mean / sd * scale if sd else None), (mean / down * scale if down else None)
