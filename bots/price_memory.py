"""The portal's price memory: each bot's last published price and its 1-minute candles.

The engine's process remembers every ``bot.price`` payload it publishes; page snapshots read them
back, so a page loaded between two pushes shows the newest price and a chart. Last prices go to
Django's cache together, at most once a second (one write for every bot, not one per price: Django's
cache has no native async API, so each write is a thread hop); candles are built by the engine's own
``CandleBuilder`` and only closed ones are written, once a minute per bot. In the single-process
``run`` the publisher is this process, and its unsaved memory is read directly (newer than the cache).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache

from bots.engine.candles import CandleBuilder
from marketdata.feeds.serialize import decimal_text
from marketdata.feeds.types import Candle, Instrument

LAST_PRICE_KEY = "portal.price.{}"  # a bot's newest bot.price payload
CANDLES_KEY = "portal.candles.{}"  # a bot's closed 1-minute candles as [epoch s, o, h, l, c], oldest first
OPEN_CANDLE_KEY = "portal.candle.{}"  # a bot's forming candle, saved with its last price
CANDLE_INTERVAL = "1m"
KEEP_CANDLES = 120
PRICE_FLUSH_SECONDS = 1.0
LAST_PRICE_TTL = 3600
CANDLES_TTL = 3 * 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Memory:
    """This process's unsaved prices and open candles (one per process: the publisher's)."""

    def __init__(self) -> None:
        self.unsaved: dict[str, dict[str, Any]] = {}
        self.last_flush = float("-inf")  # the first price goes out at once
        self.builders: dict[int, CandleBuilder] = {}
        self.clock: Callable[[], float] = time.monotonic

    def clear(self, clock: Callable[[], float]) -> None:
        self.unsaved.clear()
        self.last_flush = float("-inf")  # the first price goes out at once
        self.builders.clear()
        self.clock = clock


_memory = _Memory()


def forget_price_memory(clock: Callable[[], float] = time.monotonic) -> None:
    """Drop this process's unsaved prices and open candles (tests; a restarted engine); ``clock``
    (monotonic seconds) paces the cache writes, so a test can hold time still."""
    _memory.clear(clock)


def _row(candle: Candle) -> list[Any]:
    start = int(candle.open_time.timestamp())
    return [start, *(decimal_text(v) for v in (candle.open, candle.high, candle.low, candle.close))]


def _ns(iso: str) -> int:
    return (datetime.fromisoformat(iso) - _EPOCH) // timedelta(microseconds=1) * 1000


async def remember_price(payload: dict[str, Any]) -> None:
    """Keep a ``bot.price`` payload as the bot's last price, and fold it into the bot's 1-minute
    candles (a candle closed by this price is appended to the cached history)."""
    bot_id = payload["bot_id"]
    _memory.unsaved[LAST_PRICE_KEY.format(bot_id)] = payload
    builder = _memory.builders.get(bot_id)
    if builder is None:
        builder = _memory.builders[bot_id] = CandleBuilder(Instrument("portal", str(bot_id)), CANDLE_INTERVAL)
    closed = builder.add(Decimal(payload["price"]), Decimal(0), _ns(payload["time"]))
    if closed is not None:
        history = await cache.aget(CANDLES_KEY.format(bot_id)) or []
        history.append(_row(closed))
        await cache.aset(CANDLES_KEY.format(bot_id), history[-KEEP_CANDLES:], CANDLES_TTL)
    now = _memory.clock()
    if now - _memory.last_flush >= PRICE_FLUSH_SECONDS:
        batch: dict[str, Any] = dict(_memory.unsaved)
        # The forming candles of the bots that moved, so another process's chart draws them too.
        for p in _memory.unsaved.values():
            forming = _memory.builders[p["bot_id"]].current()
            if forming is not None:
                batch[OPEN_CANDLE_KEY.format(p["bot_id"])] = _row(forming)
        _memory.unsaved.clear()
        _memory.last_flush = now
        await cache.aset_many(batch, LAST_PRICE_TTL)


def last_prices(bot_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest price each bot's engine published: from the cache, or newer from this process's
    memory when the engine publishes here."""
    if not bot_ids:
        return {}
    keys = [LAST_PRICE_KEY.format(i) for i in bot_ids]
    found = cache.get_many(keys)
    found.update({k: _memory.unsaved[k] for k in keys if k in _memory.unsaved})
    return {int(k.rsplit(".", 1)[1]): v for k, v in found.items()}


def candles(bot_id: int) -> list[dict[str, Any]]:
    """The bot's recent 1-minute candles (time in epoch seconds, prices as text): the closed ones and
    the forming one (from this process's memory when the engine publishes here, else as last saved)."""
    found = cache.get_many([CANDLES_KEY.format(bot_id), OPEN_CANDLE_KEY.format(bot_id)])
    rows = list(found.get(CANDLES_KEY.format(bot_id)) or [])
    builder = _memory.builders.get(bot_id)
    current = builder.current() if builder is not None else None
    forming = _row(current) if current is not None else found.get(OPEN_CANDLE_KEY.format(bot_id))
    if forming is not None and (not rows or rows[-1][0] < forming[0]):
        rows.append(forming)
    return [{"t": t, "o": o, "h": h, "l": low, "c": c} for t, o, h, low, c in rows]
