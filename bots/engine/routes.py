"""The engine's routes: one per (exchange, symbol) that some bot trades, holding the one ticker
subscription its bots share, the candle builders of their timeframes and, while a bar strategy runs,
the trades subscription that fills those candles. The engine decides what a tick does to a bot; this
module only keeps who listens to what and subscribes or releases feeds as bots come and go.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from marketdata.feeds.types import Candle, Instrument, MarketEvent, Subscription, Ticker, Trade

from .bot import BotRunner
from .candles import CandleBuilder, event_ns
from .ports import Feeds

log = logging.getLogger(__name__)


class Route:
    """One (exchange, symbol): one feed subscription shared by the bots on it, and its candle builders."""

    __slots__ = ("instrument", "bots", "handle", "trades_handle", "builders", "on_ticker")

    def __init__(self, instrument: Instrument, on_ticker: Callable[[Route, Ticker], None]) -> None:
        self.instrument = instrument
        self.on_ticker = on_ticker
        self.bots: tuple[BotRunner, ...] = ()
        self.handle: Any = None
        self.trades_handle: Any = None  # trades feed the candles (with volume) while a bar strategy runs
        self.builders: dict[str, CandleBuilder] = {}

    def on_event(self, event: MarketEvent) -> None:
        """The feed listener: tickers drive decisions, trades only feed candles."""
        if type(event) is Ticker:
            self.on_ticker(self, event)
        elif type(event) is Trade:
            at = event_ns(event.exchange_time, event.receive_ns)
            for builder in self.builders.values():
                builder.add(event.price, event.quantity, at, event.receive_ns)


class RouteTable:
    """The routes by instrument, and the feed subscriptions that follow the bots on them."""

    def __init__(self, feeds: Feeds, spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
                 on_ticker: Callable[[Route, Ticker], None], on_candle: Callable[[Route, str, Candle], None],
                 candles_from_trades: bool) -> None:
        self.feeds, self.spawn = feeds, spawn
        self.on_ticker, self.on_candle = on_ticker, on_candle
        self.candles_from_trades = candles_from_trades
        self.routes: dict[Instrument, Route] = {}

    async def add(self, runner: BotRunner) -> None:
        """Put the bot on its instrument's route, subscribing the ticker feed for the first one."""
        inst = runner.spec.instrument
        route = self.routes.get(inst)
        if route is None:
            route = self.routes[inst] = Route(inst, self.on_ticker)
            route.bots = (runner,)
            route.handle = await self.feeds.subscribe(Subscription(inst.exchange, "ticker", inst.symbol),
                                                      route.on_event)
        elif runner not in route.bots:
            route.bots = (*route.bots, runner)
        await self.ensure_candles(route, runner)

    async def ensure_candles(self, route: Route, runner: BotRunner) -> None:
        """A candle builder for the bot's timeframe (and the trades feed that fills it)."""
        inst, tf = route.instrument, runner.strategy.timeframe
        if tf != "tick" and tf not in route.builders:
            builder = route.builders[tf] = CandleBuilder(inst, tf)
            builder.listeners.append(functools.partial(self.on_candle, route, tf))
            if route.trades_handle is None and self.candles_from_trades:
                try:
                    route.trades_handle = await self.feeds.subscribe(
                        Subscription(inst.exchange, "trades", inst.symbol), route.on_event)
                except Exception as exc:  # candles then come from ticks alone
                    log.info("no trades feed for %s: %r", inst, exc)

    def remove(self, runner: BotRunner) -> asyncio.Task[Any] | None:
        """Take the bot off its route; return the unsubscribe task when it was the last one."""
        inst = runner.spec.instrument
        route = self.routes.get(inst)
        if route is None or runner not in route.bots:
            return None
        route.bots = tuple(b for b in route.bots if b is not runner)
        self.prune_candles(route)
        if not route.bots:
            # The last bot on this (exchange, symbol): release our one subscription (the manager's
            # reference count keeps the stream on the wire while anyone else still uses it).
            del self.routes[inst]
            if route.handle is not None:
                handle, route.handle = route.handle, None
                return self.spawn(self.feeds.unsubscribe(handle))
        return None

    def prune_candles(self, route: Route) -> None:
        """Drop builders no bot on the route uses any more (and the trades feed with the last one)."""
        for tf in list(route.builders):
            if not any(b.strategy.timeframe == tf for b in route.bots):
                del route.builders[tf]
        if not route.builders and route.trades_handle is not None:
            handle, route.trades_handle = route.trades_handle, None
            self.spawn(self.feeds.unsubscribe(handle))

    def flush_candles(self, now_ns: int) -> None:
        """Close the candles whose interval ended in silence."""
        for route in list(self.routes.values()):
            for builder in list(route.builders.values()):
                builder.flush(now_ns)

    async def close(self, timeout: float) -> None:
        """Forget every route and release its subscriptions (each unsubscribe bounded by ``timeout``)."""
        routes = list(self.routes.values())
        self.routes.clear()
        for route in routes:
            for handle in (route.handle, route.trades_handle):
                if handle is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(self.feeds.unsubscribe(handle), timeout)
