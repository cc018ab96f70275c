"""Candle sources for a backtest: streamed, never all held as objects.

A bar is a plain tuple ``(open_ms, open, high, low, close, volume)``: the open time in epoch
milliseconds (UTC) and ``Decimal`` prices parsed from their text, never through ``float``. Sources
are iterators, so a year of minutes costs the memory of one row at a time.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import TextIO

from marketdata.klines import CsvStats, parse_row, read_csv

Bar = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]
__all__ = ["Bar", "CsvStats", "in_order", "parse_row", "read_csv", "synthetic", "timeframe_ms", "write_csv"]

TIMEFRAME_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000,
                                "4h": 14_400_000, "1d": 86_400_000}


def timeframe_ms(timeframe: str) -> int:
    """The length of a candle interval in milliseconds; ``ValueError`` for an unknown one."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; use one of {', '.join(TIMEFRAME_MS)}") from None


def in_order(bars: Iterable[Bar], stats: CsvStats | None = None) -> Iterator[Bar]:
    """Drop bars that do not move time forward (a duplicate or out-of-order row is counted)."""
    last = None
    for bar in bars:
        if last is not None and bar[0] <= last:
            if stats is not None:
                stats.skipped += 1
            continue
        last = bar[0]
        yield bar


def synthetic(n: int, *, start_ms: int = 1_767_225_600_000, step_ms: int = 60_000, price: int = 3_000_000,
              seed: int = 7, volatility: int = 600) -> Iterator[Bar]:
    """``n`` bars of a seeded random walk in cents (exact Decimals with two places), for tests and the
    benchmark. ``price`` and ``volatility`` are in cents (30,000.00 and a 6.00 typical move). The noise
    comes from three tables of coprime lengths, so making a bar costs a few integer operations (the
    benchmark measures the backtest, not the random generator) and the walk does not repeat."""
    rng = random.Random(seed)
    moves = [int(rng.gauss(0, volatility)) for _ in range(65_521)]
    wicks = [int(abs(rng.gauss(0, volatility / 2))) for _ in range(65_519)]
    volumes = [Decimal(rng.randrange(1, 5000)).scaleb(-2) for _ in range(65_497)]
    cents = Decimal("0.01")
    close = price
    nm, nw, nv = len(moves), len(wicks), len(volumes)
    for i in range(n):
        o = close
        c = close = max(100, o + moves[i % nm])
        hi = (o if o > c else c) + wicks[i % nw]
        lo = max(50, (c if o > c else o) - wicks[(i * 7 + 3) % nw])
        yield (start_ms + i * step_ms, Decimal(o) * cents, Decimal(hi) * cents, Decimal(lo) * cents,
               Decimal(c) * cents, volumes[i % nv])


def write_csv(bars: Iterable[Bar], stream: TextIO) -> int:
    """Write bars as ``timestamp_ms,open,high,low,close,volume``; return how many."""
    count = 0
    w = csv.writer(stream, lineterminator="\n")
    w.writerow(("timestamp_ms", "open", "high", "low", "close", "volume"))
    for ts, o, h, low, c, v in bars:
        w.writerow((ts, o, h, low, c, v))
        count += 1
    return count
