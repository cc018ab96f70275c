"""Market-data fan-out through Redis pub/sub: feed processes publish, engine workers and web
processes subscribe to exactly the (exchange, channel, symbol) streams they need.

* ``FanoutPublisher`` (in ``runfeeds``) follows demand: every ``poll`` seconds it asks Redis which
  of its venues' channels have subscribers (``PUBSUB CHANNELS``) and subscribes the pooled
  ``MarketDataManager`` to exactly those; events are published in pipelined batches.
* ``RedisFeeds`` implements the engine's ``Feeds`` port over one pub/sub connection, reference
  counted per stream like the manager (first subscriber SUBSCRIBEs, last one UNSUBSCRIBEs).

Why pub/sub and not streams (``bench/bench_scaleout.py`` measures both): a tick is worth something
only while it is the latest; pub/sub delivers it with one hop and no per-reader bookkeeping, while
a stream would make every reader page through history it must then throw away. What a worker misses
while it reconnects is lost, by design: it resubscribes and takes the next ticks. A bot never acts
on a stale price after a gap: every event carries the feed's receive time and ``RedisFeeds`` drops
events older than ``max_age`` (counted in ``stale``), so neither a reconnect nor a backlog in a slow
reader can hand a bot an old price. Plain Python: no Django (the hosts pass the Redis URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict

import orjson
import redis.asyncio as aioredis

from marketdata.feeds.types import MarketEvent, Subscription, Ticker, Trade
from marketdata.pubsub import Publisher, Subscriber

log = logging.getLogger(__name__)
Listener = Callable[[MarketEvent], None]


# Wire format -----------------------------------------------------------------------------------------
def channel_name(prefix: str, sub: Subscription) -> str:
    """``md|binance|ticker|BTC/USDT``: the Redis channel of one stream."""
    return f"{prefix}|{sub.exchange}|{sub.channel}|{sub.symbol}"


def parse_channel(prefix: str, name: str) -> Subscription | None:
    parts = name.split("|")
    if len(parts) != 4 or parts[0] != prefix:
        return None
    return Subscription(parts[1], parts[2], parts[3])  # type: ignore[arg-type]


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def encode(event: MarketEvent) -> bytes | None:
    """A ticker or trade as compact JSON (Decimals as exact text); other events are not fanned out."""
    if type(event) is Ticker:
        return orjson.dumps(["T", event.exchange, event.symbol, _s(event.bid), _s(event.ask), _s(event.last),
                             _s(event.bid_size), _s(event.ask_size), _s(event.volume_24h),
                             _t(event.exchange_time), event.receive_ns])
    if type(event) is Trade:
        return orjson.dumps(["t", event.exchange, event.symbol, event.trade_id, str(event.price),
                             str(event.quantity), event.side, _t(event.exchange_time), event.receive_ns])
    return None


def decode(data: bytes) -> MarketEvent:
    """The inverse of ``encode``; raises on anything malformed. (Runs once per tick per worker:
    the ticker branch is inlined.)"""
    v = orjson.loads(data)
    if v[0] == "T":
        _, exchange, symbol, bid, ask, last, bid_size, ask_size, volume, ex_time, receive_ns = v
        return Ticker(exchange, symbol, None if bid is None else Decimal(bid), None if ask is None else Decimal(ask),
                      None if last is None else Decimal(last), None if bid_size is None else Decimal(bid_size),
                      None if ask_size is None else Decimal(ask_size), None if volume is None else Decimal(volume),
                      datetime.fromisoformat(ex_time) if ex_time else None, int(receive_ns))
    ex_time = datetime.fromisoformat(v[-2]) if v[-2] else None
    if v[0] == "t":
        return Trade(v[1], v[2], str(v[3]), Decimal(v[4]), Decimal(v[5]), v[6], ex_time, int(v[8]))
    raise ValueError(f"unknown fan-out event {v[0]!r}")


# Publisher (feed process) --------------------------------------------------------------------------
class FanoutPublisher:
    """Publishes a manager's events for the venues this process holds, following Redis' demand."""

    def __init__(self, manager: Any, redis_url: str, prefix: str, *, poll: float = 0.5) -> None:
        self.manager, self.prefix, self.poll = manager, prefix, poll
        self.redis = aioredis.from_url(redis_url)  # PUBSUB CHANNELS (demand), once per poll
        self.wire = Publisher(redis_url)  # the events themselves
        self.venues: set[str] = set()
        # Venue -> monotonic deadline: the lease's expiry as this process last knew it. A process
        # frozen past it (SIGSTOP, a long pause) publishes nothing for the venue on waking, even
        # before its next lease round tells it another process took the venue over.
        self.deadlines: dict[str, float] = {}
        self.handles: dict[Subscription, Any] = {}
        self.published = self.fenced = 0
        self._pending: list[tuple[str, bytes]] = []
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._flush_loop()), asyncio.create_task(self._demand_loop())]

    def set_venues(self, venues: Iterable[str], valid_until: float = float("inf")) -> None:
        """The venues this process reads (its leases, valid until the monotonic ``valid_until``);
        the demand loop follows within ``poll``."""
        self.venues = set(venues)
        self.deadlines = dict.fromkeys(self.venues, valid_until)

    def _listener(self, sub: Subscription) -> Listener:
        name, venue = channel_name(self.prefix, sub), sub.exchange
        pub = self

        def publish(event: MarketEvent) -> None:
            if time.monotonic() > pub.deadlines.get(venue, 0.0):
                pub.fenced += 1
                return
            data = encode(event)
            if data is not None:
                self._pending.append((name, data))
                self._wake.set()

        return publish

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                await self.wire.publish_many(batch)
                self.published += len(batch)
            except Exception as exc:  # Redis away: these ticks are lost (readers take the next ones)
                log.warning("fan-out publish of %d events failed: %r", len(batch), exc)
                await asyncio.sleep(0.5)

    async def _demand_loop(self) -> None:
        while True:
            try:
                await self.sync_demand()
            except Exception as exc:
                log.warning("fan-out demand sync failed: %r", exc)
            await asyncio.sleep(self.poll)

    async def sync_demand(self) -> None:
        """Subscribe the manager to what readers want on our venues; drop what nobody reads."""
        wanted: set[Subscription] = set()
        for venue in self.venues:
            for raw in await self.redis.pubsub_channels(f"{self.prefix}|{venue}|*"):
                sub = parse_channel(self.prefix, raw.decode() if isinstance(raw, bytes) else raw)
                if sub is not None and sub.channel in ("ticker", "trades"):
                    wanted.add(sub)
        for sub in [s for s in self.handles if s not in wanted]:
            with contextlib.suppress(Exception):
                await self.manager.unsubscribe(self.handles.pop(sub))
        for sub in wanted - set(self.handles):
            try:
                self.handles[sub] = await self.manager.subscribe(sub, self._listener(sub))
            except Exception as exc:
                log.warning("fan-out: cannot subscribe %s: %r", sub, exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for handle in self.handles.values():
            with contextlib.suppress(Exception):
                await self.manager.unsubscribe(handle)
        self.handles.clear()
        await self.wire.close()
        await self.redis.aclose()


# Reader (engine worker, web) -------------------------------------------------------------------------
class RedisFeeds:
    """The engine's ``Feeds`` port over Redis pub/sub, reference counted per stream."""

    def __init__(self, redis_url: str, prefix: str, *, max_age: float = 2.0) -> None:
        self.prefix = prefix
        self.max_age_ns = int(max_age * 1e9)
        self.subscriber = Subscriber(redis_url, self._deliver, on_gap=self._gap, name=f"fanout-{prefix}"[:60])
        self.listeners: dict[bytes, list[Listener]] = {}
        self.received = self.stale = self.malformed = self.gaps = 0
        self._lock = asyncio.Lock()

    async def subscribe(self, subscription: Subscription, listener: Listener) -> tuple[bytes, Listener]:
        name = channel_name(self.prefix, subscription)
        key = name.encode()
        async with self._lock:
            await self.subscriber.start()
            listeners = self.listeners.setdefault(key, [])
            listeners.append(listener)
            if len(listeners) == 1:
                await self.subscriber.subscribe([name])
        return key, listener

    async def unsubscribe(self, handle: tuple[bytes, Listener]) -> None:
        key, listener = handle
        async with self._lock:
            listeners = self.listeners.get(key, [])
            if listener in listeners:
                listeners.remove(listener)
            if not listeners and key in self.listeners:
                del self.listeners[key]
                with contextlib.suppress(Exception):
                    await self.subscriber.unsubscribe([key.decode()])

    def subscriber_count(self, subscription: Subscription) -> int:
        return len(self.listeners.get(channel_name(self.prefix, subscription).encode(), ()))

    def _gap(self) -> None:
        self.gaps += 1

    def _deliver(self, channel: bytes, data: bytes) -> None:
        try:
            event = decode(data)
        except Exception:
            self.malformed += 1  # counted and skipped, never fatal
            return
        self.received += 1
        if time.time_ns() - event.receive_ns > self.max_age_ns:
            self.stale += 1  # an old price (a backlog, a gap): no bot may act on it
            return
        for listener in self.listeners.get(channel, ()):
            try:
                listener(event)
            except Exception:
                log.exception("fan-out listener failed")

    def fanout_metrics(self) -> dict[str, int]:
        return {"received": self.received, "stale": self.stale, "malformed": self.malformed,
                "gaps": self.gaps, "streams": len(self.listeners)}

    async def close(self) -> None:
        await self.subscriber.close()


class MarketPricePayload(TypedDict):
    type: Literal["market.price"]
    exchange: str
    symbol: str
    bid: str | None
    ask: str | None
    last: str | None
    received_at_ns: int


def price_payload(t: Ticker) -> MarketPricePayload:
    """What a browser gets for one ticker: exact prices as text."""
    return {"type": "market.price", "exchange": t.exchange, "symbol": t.symbol, "bid": _s(t.bid),
            "ask": _s(t.ask), "last": _s(t.last), "received_at_ns": t.receive_ns}


_shared: dict[tuple[int, str, str], RedisFeeds] = {}


def shared_reader(redis_url: str, prefix: str, max_age: float) -> RedisFeeds:
    """One reader per process (and loop) for every socket that wants prices: N browsers on the
    same market cost one Redis subscription."""
    key = (id(asyncio.get_running_loop()), redis_url, prefix)
    if key not in _shared:
        _shared[key] = RedisFeeds(redis_url, prefix, max_age=max_age)
    return _shared[key]
