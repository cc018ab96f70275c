"""The market-data manager: pooled venue connections, ref-counted subscriptions, routing, health.

Usage (one asyncio loop; listeners are plain sync callables run on the loop, so keep them short)::

    from marketdata.exchanges.base import Endpoint
    from marketdata.feeds.connection import Backoff, ConnectionSettings, FeedEvent
    from marketdata.feeds.manager import MarketDataManager
    from marketdata.feeds.types import Subscription

    mgr = MarketDataManager(
        endpoints={"binance": Endpoint(ws="ws://127.0.0.1:8765/binance/stream", rest="http://127.0.0.1:8766")},
        settings=ConnectionSettings(),          # or {"binance": ConnectionSettings(...)} per venue
    )
    handle = await mgr.subscribe(Subscription("binance", "ticker", "BTC/USDT"), on_tick)
    remove = mgr.add_event_listener(on_feed_event)   # FeedEvent(kind, exchange, detail, time_ns)
    mgr.is_connected("binance"); mgr.book("binance", "BTC/USDT"); mgr.health(); mgr.metrics()
    await mgr.unsubscribe(handle); remove(); await mgr.close()

- One connection per venue; another is opened only when a venue limit (streams per connection)
  requires it.
- Subscriptions are reference-counted per (exchange, channel, symbol): only the first subscribe and
  the last unsubscribe go on the wire. Every ``subscribe`` returns its own handle; ``unsubscribe``
  removes exactly that listener and is idempotent.
- Routing is by (exchange, channel, symbol): a Binance BTC/USDT listener never sees another venue's
  tick. Listener exceptions are counted and logged, never propagated into the feed.
- Events: ``connected``, ``disconnected``, ``reconnecting``, ``stale``, ``resyncing``, ``resynced``,
  ``failed``, ``fallback_started``, ``fallback_stopped``.
- While a venue's socket is down, its ticker subscriptions are served by REST polling (``fallback``).
- ``prometheus_registry`` is a private ``CollectorRegistry`` for a ``/metrics`` view.
- ``transport=make_transport("websockets")`` (``marketdata.feeds.transport``) swaps the default picows
  client for the ``websockets`` one; adapters are unchanged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from marketdata.exchanges.base import Adapter, Endpoint
from marketdata.exchanges.registry import get_adapter
from marketdata.feeds.book import OrderBook
from marketdata.feeds.connection import Connection, ConnectionSettings, FeedEvent
from marketdata.feeds.fallback import FallbackSettings, TickerFallback
from marketdata.feeds.health import exchange_health
from marketdata.feeds.metrics import SAMPLE_EVERY, RouteStats, prometheus_registry
from marketdata.feeds.options import FeedEventKind
from marketdata.feeds.transport import Transport
from marketdata.feeds.types import CHANNELS, MarketEvent, Subscription, Ticker

log = logging.getLogger(__name__)
Listener = Callable[[MarketEvent], None]
EventListener = Callable[[FeedEvent], None]


@dataclass(frozen=True, slots=True, eq=False)
class SubscriptionHandle:
    """What ``subscribe`` returns; pass it to ``unsubscribe``."""

    id: int
    subscription: Subscription
    listener: Listener


class Route:
    """Listeners and counters of one (exchange, channel, symbol)."""

    __slots__ = ("sub", "listeners", "handles", "stats")

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.listeners: tuple[Listener, ...] = ()  # a tuple: listeners may unsubscribe while we iterate
        self.handles: dict[int, SubscriptionHandle] = {}
        self.stats = RouteStats()

    def rebuild(self) -> None:
        """Refresh the listener tuple after a change."""
        self.listeners = tuple(h.listener for h in self.handles.values())


class Router:
    """Dispatch for one venue: channel -> symbol -> Route, two dict lookups and no allocation per event."""

    __slots__ = ("routes", "unrouted")

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Route]] = {c: {} for c in CHANNELS}
        self.unrouted = 0

    def dispatch(self, event: MarketEvent) -> None:
        """Deliver one event to the listeners of its (channel, symbol)."""
        route = self.routes[event.channel].get(event.symbol)
        if route is None:
            self.unrouted += 1  # e.g. a frame racing an unsubscribe
            return
        stats = route.stats
        stats.messages += 1
        for listener in route.listeners:
            try:
                listener(event)
            except Exception:  # one bot's bug must not stop the feed for the others
                stats.listener_errors += 1
                log.exception("market-data listener failed for %s", route.sub)
        if not stats.messages % SAMPLE_EVERY:
            now = time.time_ns()
            stats.dispatch.add(now - event.receive_ns)
            when = event.exchange_time
            if when is not None:
                stats.venue.add(event.receive_ns - int(when.timestamp() * 1e9))
        stats.last_ns = event.receive_ns


class MarketDataManager:
    """Owns every venue connection of the process; see the module docstring."""

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint] | None = None,
        settings: ConnectionSettings | Mapping[str, ConnectionSettings] | None = None,
        transport: Transport | None = None,
        fallback: FallbackSettings | None = None,
        adapters: Mapping[str, Adapter] | None = None,
    ) -> None:
        self.endpoints = dict(endpoints or {})
        self._settings = settings
        self.transport = transport
        self.fallback_settings = fallback or FallbackSettings()
        self._adapters: dict[str, Adapter] = dict(adapters or {})
        self._routers: dict[str, Router] = {}
        self._connections: dict[str, list[Connection]] = {}
        self._where: dict[Subscription, Connection] = {}
        self._event_listeners: dict[int, EventListener] = {}
        self._ids = itertools.count(1)
        self._fallbacks: dict[str, tuple[TickerFallback, asyncio.Task]] = {}
        self._lock = asyncio.Lock()
        self._closed = False
        self._sampler: asyncio.Task | None = None
        self.prometheus_registry = prometheus_registry(self.metrics)

    # --- subscriptions --------------------------------------------------------------------------

    async def subscribe(self, sub: Subscription, listener: Listener) -> SubscriptionHandle:
        """Route ``sub``'s events to ``listener``; the first subscriber of a stream puts it on the wire."""
        if sub.channel not in CHANNELS:
            raise ValueError(f"unknown channel {sub.channel!r}; known: {', '.join(CHANNELS)}")
        if self._closed:
            raise RuntimeError("manager is closed")
        async with self._lock:
            router = self._router(sub.exchange)
            route = router.routes[sub.channel].get(sub.symbol)
            if route is None:
                route = router.routes[sub.channel][sub.symbol] = Route(sub)
            handle = SubscriptionHandle(next(self._ids), sub, listener)
            route.handles[handle.id] = handle
            route.rebuild()
            if len(route.handles) == 1:
                self._connection_for(sub).add([sub])
            if self._sampler is None:
                self._sampler = asyncio.get_running_loop().create_task(self._sample_rates())
            return handle

    async def unsubscribe(self, handle: SubscriptionHandle) -> None:
        """Remove this listener; the last one of a stream takes it off the wire. Idempotent."""
        idle = await self._release(handle)
        if idle is not None:
            # Nothing left on this socket: unsubscribe on the wire, then close it (outside the lock,
            # so other subscribes are not held up by a close handshake).
            await idle.drain()
            await idle.close()

    async def _release(self, handle: SubscriptionHandle) -> Connection | None:
        async with self._lock:
            sub = handle.subscription
            router = self._routers.get(sub.exchange)
            route = router.routes[sub.channel].get(sub.symbol) if router else None
            if router is None or route is None or route.handles.pop(handle.id, None) is None:
                return None
            route.rebuild()
            if route.handles:
                return None
            del router.routes[sub.channel][sub.symbol]
            conn = self._where.pop(sub, None)
            if conn is None:
                return None
            conn.remove([sub])
            if conn.subs:
                return None
            self._connections[sub.exchange].remove(conn)
            return conn

    def subscriber_count(self, sub: Subscription) -> int:
        """How many handles share this stream."""
        router = self._routers.get(sub.exchange)
        route = router.routes[sub.channel].get(sub.symbol) if router else None
        return len(route.handles) if route else 0

    def add_event_listener(self, callback: EventListener) -> Callable[[], None]:
        """Receive FeedEvents; returns a function that removes the listener."""
        key = next(self._ids)
        self._event_listeners[key] = callback
        return lambda: self._event_listeners.pop(key, None) and None

    # --- state ----------------------------------------------------------------------------------

    def is_connected(self, exchange: str) -> bool:
        """True when every connection of the venue is open (False when it has none)."""
        conns = self._connections.get(exchange)
        return conns is not None and len(conns) > 0 and all(c.is_connected for c in conns)

    async def wait_connected(self, exchange: str, timeout: float) -> bool:
        """Wait until the venue's connections are open; False on timeout."""
        deadline = time.monotonic() + timeout
        for conn in list(self._connections.get(exchange, ())):
            if not await conn.wait_connected(max(0.0, deadline - time.monotonic())):
                return False
        return bool(self._connections.get(exchange))

    def book(self, exchange: str, symbol: str) -> OrderBook | None:
        """The local L2 book of a subscribed ``book`` stream, None until it is synced.

        It is the live object the feed updates: read it on the loop (e.g. inside a listener), do not keep
        references to its levels, never mutate it.
        """
        conn = self._where.get(Subscription(exchange, "book", symbol))
        session = conn.session if conn else None
        book = session.books.get(symbol) if session else None
        return book if book is not None and book.synced else None

    def connections(self, exchange: str) -> list[Connection]:
        """The venue's connections (read-only use: tests, benchmarks, the portal)."""
        return list(self._connections.get(exchange, ()))

    def health(self) -> dict[str, dict[str, Any]]:
        """Per venue: {"status": "healthy"|"degraded"|"down", "reason": str, ...}."""
        return {ex: self._health(ex) for ex in self._connections}

    def metrics(self) -> dict[str, Any]:
        """Per venue and per subscription counters, rates, latencies and health (a plain dict)."""
        now = time.time_ns()
        exchanges: dict[str, Any] = {}
        for ex, conns in self._connections.items():
            merged: dict[str, Any] = {}
            for conn in conns:
                for key, value in conn.stats.as_dict().items():
                    if isinstance(value, int | float) and not isinstance(value, bool) and key in merged:
                        merged[key] = (
                            min(merged[key], value) if key == "last_message_age_s" else merged[key] + value
                        )
                    else:
                        merged.setdefault(key, value)
            merged["connections"] = len(conns)
            merged["unrouted"] = self._routers[ex].unrouted if ex in self._routers else 0
            merged["health"] = self._health(ex)
            exchanges[ex] = merged
        subs = []
        for ex, router in self._routers.items():
            for channel, by_symbol in router.routes.items():
                for symbol, route in by_symbol.items():
                    row = {"exchange": ex, "channel": channel, "symbol": symbol, "listeners": len(route.handles)}
                    row.update(route.stats.as_dict(now))
                    subs.append(row)
        return {"exchanges": exchanges, "subscriptions": subs}

    async def close(self) -> None:
        """Close every connection and stop fallbacks; listeners get nothing after this returns."""
        self._closed = True
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
        for _, task in self._fallbacks.values():
            task.cancel()
        await asyncio.gather(*(t for _, t in self._fallbacks.values()), return_exceptions=True)
        self._fallbacks.clear()
        conns = [c for cs in self._connections.values() for c in cs]
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        self._connections.clear()
        self._where.clear()

    # --- internals ------------------------------------------------------------------------------

    def _adapter(self, exchange: str) -> Adapter:
        adapter = self._adapters.get(exchange)
        if adapter is None:
            adapter = self._adapters[exchange] = get_adapter(exchange)
        return adapter

    def _router(self, exchange: str) -> Router:
        self._adapter(exchange)  # unknown venues fail here, before any state changes
        router = self._routers.get(exchange)
        if router is None:
            router = self._routers[exchange] = Router()
        return router

    def _settings_for(self, exchange: str) -> ConnectionSettings:
        s = self._settings
        if isinstance(s, ConnectionSettings):
            return s
        if isinstance(s, Mapping) and exchange in s:
            return s[exchange]
        return ConnectionSettings()

    def _connection_for(self, sub: Subscription) -> Connection:
        adapter = self._adapter(sub.exchange)
        conns = self._connections.setdefault(sub.exchange, [])
        need = adapter.streams(sub)
        limit = adapter.limits.max_streams_per_connection
        conn = next((c for c in conns if c.streams + need <= limit), None)
        if conn is not None and conn.state == "failed":
            conn.start()  # max_attempts was reached earlier; a new subscriber asks for another try
        if conn is None:
            endpoint = self.endpoints.get(sub.exchange, adapter.default_endpoint)
            conn = Connection(
                sub.exchange,
                adapter,
                endpoint,
                dispatch=self._routers[sub.exchange].dispatch,
                on_event=self._on_feed_event,
                settings=self._settings_for(sub.exchange),
                transport=self.transport,
                rest=adapter.rest_client(endpoint),
                name=f"{sub.exchange}#{len(conns) + 1}",
            )
            conns.append(conn)
            conn.start()
        self._where[sub] = conn
        return conn

    def _on_feed_event(self, event: FeedEvent) -> None:
        # "reconnecting" also covers a venue that refused us from the start (no "disconnected" then).
        if event.kind in ("disconnected", "reconnecting", "failed") and self.fallback_settings.enabled:
            self._start_fallback(event.exchange)
        for callback in list(self._event_listeners.values()):
            try:
                callback(event)
            except Exception:
                log.exception("feed event listener failed")

    def _start_fallback(self, exchange: str) -> None:
        current = self._fallbacks.get(exchange)
        if current is not None and not current[1].done() or self._closed:
            return
        conns = self._connections.get(exchange)
        if not conns:
            return
        router = self._routers[exchange]
        stats, rest = conns[0].stats, conns[0].rest
        if rest is None:  # no REST client for this venue: nothing to poll
            return

        def deliver(ticker: Ticker) -> None:
            ticker.exchange = exchange  # the REST client names its protocol; events carry our venue code
            stats.fallback_ticks += 1
            router.dispatch(ticker)

        def on_active(active: bool) -> None:
            kind: FeedEventKind = "fallback_started" if active else "fallback_stopped"
            self._emit(FeedEvent(kind, exchange, {"polls": poller.polls}, time.time_ns()))

        poller = TickerFallback(
            rest,
            lambda: list(router.routes["ticker"]),
            deliver,
            lambda: self.is_connected(exchange) or self._closed,
            self.fallback_settings,
            on_active,
        )
        self._fallbacks[exchange] = (poller, asyncio.get_running_loop().create_task(poller.run()))

    async def _sample_rates(self) -> None:
        # Per-subscription messages/s, once a second, off the hot path.
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic_ns()
            for router in self._routers.values():
                for by_symbol in router.routes.values():
                    for route in by_symbol.values():
                        route.stats.sample_rate(now)

    def _emit(self, event: FeedEvent) -> None:
        for callback in list(self._event_listeners.values()):
            try:
                callback(event)
            except Exception:
                log.exception("feed event listener failed")

    def _health(self, exchange: str) -> dict[str, Any]:
        fb = self._fallbacks.get(exchange)
        return exchange_health(self._connections.get(exchange, []), fb[0] if fb else None)
