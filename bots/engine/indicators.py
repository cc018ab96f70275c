"""Incremental indicators: each ``update`` does constant work; history is never recomputed."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class SMA:
    """Simple moving average over the last ``period`` values (running sum + ring buffer)."""

    __slots__ = ("period", "_window", "_sum", "_divisor")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._divisor = Decimal(period)  # the same quotient as dividing by the int, without converting it each time
        self._window: deque[Decimal] = deque(maxlen=period)
        self._sum = ZERO

    def update(self, value: Decimal) -> Decimal | None:
        """Add a value; return the average once ``period`` values have been seen."""
        window = self._window
        if len(window) == self.period:  # the hot case: one subtraction, one addition, one division
            self._sum += value - window[0]
            window.append(value)
            return self._sum / self._divisor
        window.append(value)
        self._sum += value
        return self._sum / self._divisor if len(window) == self.period else None

    @property
    def value(self) -> Decimal | None:
        if len(self._window) < self.period:
            return None
        return self._sum / self._divisor


class EMA:
    """Exponential moving average seeded with the SMA of the first ``period`` values."""

    __slots__ = ("period", "_alpha", "_value", "_seed")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._alpha = Decimal(2) / (period + 1)
        self._value: Decimal | None = None
        self._seed = SMA(period)

    def update(self, value: Decimal) -> Decimal | None:
        """Add a value; return the average once ``period`` values have been seen."""
        if self._value is None:
            self._value = self._seed.update(value)
        else:
            self._value += self._alpha * (value - self._value)
        return self._value

    @property
    def value(self) -> Decimal | None:
        return self._value


class RSI:
    """Wilder's relative strength index over ``period`` changes."""

    __slots__ = ("period", "_prev", "_gain", "_loss", "_count")

    def __init__(self, period: int = 14) -> None:
        if period < 1:
            raise ValueError("period must be at least 1")
        self.period = period
        self._prev: Decimal | None = None
        self._gain = ZERO
        self._loss = ZERO
        self._count = 0

    def update(self, value: Decimal) -> Decimal | None:
        """Add a value; return the RSI (0..100) once ``period`` changes have been seen."""
        prev, self._prev = self._prev, value
        if prev is None:
            return None
        change = value - prev
        gain = change if change > 0 else ZERO
        loss = -change if change < 0 else ZERO
        n = self.period
        if self._count < n:
            # First ``period`` changes: a plain average, as Wilder seeds it.
            self._count += 1
            self._gain += (gain - self._gain) / self._count
            self._loss += (loss - self._loss) / self._count
        else:
            self._gain = (self._gain * (n - 1) + gain) / n
            self._loss = (self._loss * (n - 1) + loss) / n
        return self.value

    @property
    def value(self) -> Decimal | None:
        if self._count < self.period:
            return None
        if self._loss == 0:
            return HUNDRED if self._gain > 0 else Decimal(50)
        rs = self._gain / self._loss
        return HUNDRED - HUNDRED / (ONE + rs)


def make_average(kind: str, period: int) -> SMA | EMA:
    """An SMA or EMA by name."""
    return EMA(period) if kind == "ema" else SMA(period)
