"""Paging through a venue's public candle endpoint: pure (no Django), so it is tested over sockets
against the simulator and used by the ``history`` service.

Each venue's REST client (``marketdata/exchanges/<venue>/rest.py``) answers one page
(``fetch_candle_range``) and says how big a page is (``candle_page``), how long to wait between pages
(``candle_pause``, within the venue's public rate limit) and whether it can go back in time at all
(``candle_history``). This module walks a range page by page, oldest first.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TextIO

from marketdata.exchanges.base import CandleRow

INTERVAL_MS: dict[str, int] = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                               "1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}


class CandleSource(Protocol):
    candle_page: int
    candle_pause: float

    async def fetch_candle_range(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[CandleRow]: ...


def interval_ms(interval: str) -> int:
    """An interval's length in ms; ``ValueError`` for one we do not store."""
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"unknown timeframe {interval!r}; use one of {', '.join(INTERVAL_MS)}") from None


async def pages(source: CandleSource, symbol: str, interval: str, start_ms: int, end_ms: int, *,
                sleep: Any = asyncio.sleep) -> AsyncIterator[tuple[int, list[CandleRow]]]:
    """Yield ``(covered_until_ms, rows)`` per request from ``start_ms`` to ``end_ms``. A page asks for
    ``candle_page`` intervals; an empty page (the venue had nothing there: a gap, or before the
    market's listing) moves on by a whole page, so a hole never stalls the walk."""
    step = interval_ms(interval)
    start = start_ms - start_ms % step
    first = True
    while start < end_ms:
        if not first:
            await sleep(source.candle_pause)
        first = False
        stop = min(end_ms, start + source.candle_page * step)
        rows = await source.fetch_candle_range(symbol, interval, start, stop)
        # A full page may stop short of ``stop`` (the venue's cap): carry on after its last candle.
        covered = rows[-1][0] + step if len(rows) >= source.candle_page else stop
        yield covered, rows
        start = covered


def gaps(open_times_ms: Sequence[int] | Any, step_ms: int) -> list[tuple[int, int]]:
    """Missing ranges ``(from_ms, to_ms)`` between consecutive stored open times (sorted input)."""
    out: list[tuple[int, int]] = []
    prev = None
    for t in open_times_ms:
        if prev is not None and t - prev > step_ms:
            out.append((prev + step_ms, t))
        prev = t
    return out


class CsvStats:
    """What a CSV read skipped (malformed input is counted and skipped, never crashes)."""

    __slots__ = ("rows", "skipped")

    def __init__(self) -> None:
        self.rows = 0
        self.skipped = 0


def parse_row(row: list[str]) -> CandleRow | None:
    """One ``timestamp_ms,open,high,low,close,volume`` row, or None when it is malformed."""
    if len(row) < 6:
        return None
    try:
        ts = int(row[0])
        o, h, low, c, v = (Decimal(x) for x in row[1:6])
    except (ValueError, InvalidOperation):
        return None
    if not all(x.is_finite() for x in (o, h, low, c, v)) or min(o, h, low, c) <= 0 or v < 0:
        return None
    if h < max(o, c, low) or low > min(o, c):
        return None
    return ts, o, h, low, c, v


def read_csv(stream: TextIO, stats: CsvStats | None = None) -> Iterator[CandleRow]:
    """Bars from a CSV stream (a header line is skipped), in file order."""
    stats = stats if stats is not None else CsvStats()
    for row in csv.reader(stream):
        if not row or row[0].strip().lower() in ("timestamp_ms", "timestamp", "time", "open_time"):
            continue
        bar = parse_row(row)
        if bar is None:
            stats.skipped += 1
            continue
        stats.rows += 1
        yield bar
