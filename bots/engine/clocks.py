"""Exchange time for the engine: the local clock corrected by the offset the venues' market data shows.

A machine whose clock is off by minutes would otherwise date fills, close candles and roll the daily
P&L on the wrong time. ``ExchangeClock`` wraps the local ``Clock`` and learns the offset from the
venue event times carried by ticks (``observe``); offsets below ``tolerance`` are network latency
and jitter, not skew, and are ignored. ``SkewedClock`` is the drill's way to put the local clock off.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from .ports import Clock, SystemClock

log = logging.getLogger(__name__)
SKEW_TOLERANCE = 2.0  # seconds: more than any sane feed latency, far less than a skew that matters


class SkewedClock(SystemClock):
    """The system clock off by ``seconds`` (drills only: settings.CLOCK_SKEW_SECONDS)."""

    def __init__(self, seconds: float) -> None:
        self.skew = timedelta(seconds=seconds)

    def now(self) -> datetime:
        return super().now() + self.skew


class ExchangeClock:
    """``now()`` as the venues see it: the local clock plus the offset observed in market data."""

    def __init__(self, local: Clock | None = None, tolerance: float = SKEW_TOLERANCE) -> None:
        self.local = local or SystemClock()
        self.tolerance = tolerance
        self.offset = timedelta(0)
        self.adjustments = 0

    def observe(self, exchange_time: datetime) -> None:
        """A venue's event time, just received: move the offset if the local clock is off by more than
        the tolerance (a tick's latency makes the sample slightly low, which the tolerance absorbs)."""
        sample = exchange_time - self.local.now()
        if abs((sample - self.offset).total_seconds()) > self.tolerance:
            log.warning("local clock is %+.1f s off the venues' time; the engine uses exchange time",
                        -sample.total_seconds())
            self.offset = sample
            self.adjustments += 1

    def now(self) -> datetime:
        return self.local.now() + self.offset

    def monotonic(self) -> float:
        return self.local.monotonic()
