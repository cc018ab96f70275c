"""Hosts of the engine: the ``runengine`` Channels worker and the embedded single-process ``run``.

``EngineHost`` wires the pure engine to its real ports: the pooled ``MarketDataManager`` (feeds),
``DjangoStore`` (order store and event sink), the paper broker, live ccxt brokers per account, and
REST klines for warm-up. It resumes every active bot from the database at start, takes control
messages (start, stop, pause, resume, reload) from a named channel of the channel layer, publishes
feed health about once a second, and stops cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from marketdata.exchanges.base import Adapter, Endpoint
from marketdata.exchanges.registry import get_adapter
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.metrics import serve_metrics
from marketdata.feeds.transport import make_transport
from marketdata.models import Exchange
from marketdata.simulator.server import Simulator, VenueUrls

from . import events
from .engine.brokers import PaperBroker
from .engine.brokers.live import LiveAccount, LiveGateways
from .engine.engine import Engine, EngineConfig
from .engine.history import KlineHistory
from .engine.ports import Clock, Feeds, SystemClock
from .models import Bot
from .services.limits import account_limits
from .store import DjangoStore
from .workers import EngineWorker

log = logging.getLogger(__name__)
BINANCE_REST = {False: "https://api.binance.com", True: "https://testnet.binance.vision"}
PAPER_SLIPPAGE_BPS = Decimal(5)


@dataclass
class Venues:
    """Where each exchange code's market data and REST API live, and which protocol it speaks."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    adapters: dict[str, Adapter] = field(default_factory=dict)
    rest: dict[str, str] = field(default_factory=dict)  # Binance-protocol REST bases (klines, live orders)


def simulator_venues(urls: Mapping[str, VenueUrls]) -> Venues:
    """Every exchange code pointed at the simulator; ``simulator`` speaks Binance's protocol."""
    v = Venues()
    for code, u in urls.items():
        v.endpoints[code] = Endpoint(ws=u.stream or u.ws, rest=u.rest)
    if "binance" in urls:
        v.endpoints["simulator"] = v.endpoints["binance"]
        v.adapters["simulator"] = get_adapter("binance")
        v.rest = {"binance": urls["binance"].rest, "simulator": urls["binance"].rest}
    return v


def database_venues() -> Venues:
    """The exchanges' real public endpoints, or the overrides saved on each ``Exchange`` row (sync)."""
    v = Venues()
    for ex in Exchange.objects.enabled():
        adapter = get_adapter(ex.protocol)
        default = adapter.default_endpoint
        v.endpoints[ex.code] = Endpoint(ws=ex.ws_url or default.ws, rest=ex.rest_url or default.rest)
        if ex.code != ex.protocol:
            v.adapters[ex.code] = adapter
        if ex.protocol == "binance":
            v.rest[ex.code] = ex.rest_url or BINANCE_REST[ex.testnet]
    return v


def paper_broker(clock: Clock | None = None) -> PaperBroker:
    """The engine's paper broker (5 bps of slippage on market orders)."""
    return PaperBroker(clock or SystemClock(), slippage_bps=PAPER_SLIPPAGE_BPS)


class EngineHost:
    """The engine and its real ports, with control and resume."""

    def __init__(self, venues: Venues, *, clock: Clock | None = None, config: EngineConfig | None = None,
                 paper: PaperBroker | None = None, feeds: Feeds | None = None,
                 slippage_bps: Decimal = PAPER_SLIPPAGE_BPS, poll_interval: float = 1.0) -> None:
        self.venues = venues
        self.clock = clock or SystemClock()
        # ``feeds``: the Redis fan-out (``runengine --feeds redis``) instead of reading venues here.
        self.manager = feeds or MarketDataManager(endpoints=venues.endpoints, adapters=venues.adapters,
                                                  transport=make_transport(settings.FEED_TRANSPORT))
        self.store = DjangoStore()
        # Passed in when in-process reconciliation (the single-process ``run``) reads the same book.
        self.paper = paper or PaperBroker(self.clock, slippage_bps=slippage_bps)
        self.live = LiveGateways(self.clock, poll_interval=poll_interval)
        self.history = KlineHistory(venues.rest)
        self.engine = Engine(clock=self.clock, feeds=self.manager, store=self.store, events=self.store,
                             paper=self.paper, live=self.live, history=self.history, config=config)
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self, *, resume: bool = True) -> int:
        """Start the store, the engine and feed-health publishing; resume active bots. Returns how many."""
        self.store.start()
        await self.engine.start()
        self._tasks.append(asyncio.create_task(self._health_loop()))
        if not resume:
            return 0
        count = await self.resume_all()
        await self.engine.reconcile()  # orders left unknown by a crash are settled now, not in 5 s
        return count

    async def resume_all(self) -> int:
        """Host every bot whose status is running, starting or paused (and those the heartbeat
        watchdog put in error while the engine was down), with its position and orders."""
        ids = await self.store.arun(lambda: list(
            Bot.objects.resumable().values_list("id", flat=True)))
        for bot_id in ids:
            await self.start_bot(bot_id)
        return len(ids)

    async def start_bot(self, bot_id: int) -> bool:
        """Load a bot from the database and host it (paused bots stay paused)."""
        try:
            spec, position, orders, account = await self.store.aload(bot_id)
            status, reason = await self.store.arun(
                lambda: Bot.objects.values_list("status", "status_reason").get(pk=bot_id))
        except Bot.DoesNotExist:
            return False
        if not self.engine.owners.has_limits(spec.owner_id):
            self.engine.set_owner_limits(spec.owner_id, await self.store.arun(account_limits, spec.owner_id))
        if account is not None:
            rest = self.venues.rest.get(spec.instrument.exchange, BINANCE_REST[False])
            self.live.add_account(account.id, LiveAccount(account.api_key, account.api_secret, rest))
        runner = await self.engine.start_bot(spec, position, orders,
                                             paused=reason or "Paused" if status == "paused" else None)
        return runner is not None

    async def control(self, message: Mapping[str, Any]) -> None:
        """Act on one control message: ``{"action": start|stop|pause|resume|reload, "bot_id": id}``."""
        action, bot_id = message.get("action"), int(message.get("bot_id", 0))
        hosted = bot_id in self.engine.bots
        if action == "limits":
            owner_id = int(message["owner_id"])
            self.engine.set_owner_limits(owner_id, await self.store.arun(account_limits, owner_id))
        elif action == "stop":
            await self.engine.stop_bot(bot_id, "Stopped by request")
        elif action == "pause":
            self.engine.pause_bot(bot_id, "Paused by request")
        elif action == "resume" and hosted:
            self.engine.resume_bot(bot_id)
        elif action in ("start", "resume", "reload"):
            if hosted and action != "start":
                spec, *_ = await self.store.aload(bot_id)
                await self.engine.reload_bot(spec)
            elif not hosted:
                await self.start_bot(bot_id)
            if bot_id in self.engine.bots and self.engine.bots[bot_id].status == "paused" and action != "reload":
                self.engine.resume_bot(bot_id)
        else:
            log.warning("unknown engine control message %r", message)

    async def listen(self, channel: str | None = None) -> None:
        """Take control messages from the channel layer's named channel until cancelled."""
        layer = get_channel_layer()
        channel = channel or settings.ENGINE_CONTROL_CHANNEL
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an idle blocking pop timing out is not the end of the listener
                log.debug("engine control receive: %r", exc)
                await asyncio.sleep(0.1)
                continue
            try:
                await self.control(message)
            except Exception:
                log.exception("engine control %r failed", message)

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await events.apublish_feed_health(self.manager.metrics())
            except Exception:
                log.debug("feed health publish failed", exc_info=True)

    async def stop(self) -> None:
        """Stop cleanly: engine (in-flight orders finish), writes flushed, connections closed."""
        for task in self._tasks:
            task.cancel()
        await self.engine.stop()
        await self.store.stop()
        await self.live.close()
        await self.history.close()
        with contextlib.suppress(Exception):
            await self.manager.close()


async def serve(*, feeds: str, stdout: IO[str], stop: asyncio.Event | None = None, seed: int = 7,
                config: EngineConfig | None = None, paper: PaperBroker | None = None) -> None:
    """Run the engine with every active bot and its control channel until ``stop`` is set (or the
    task is cancelled). With ``feeds="simulator"`` a loopback simulator is started first."""
    sim = None
    if feeds == "simulator":
        sim = await Simulator(host="127.0.0.1", port=0, seed=seed).start()
        for name, u in sim.urls.items():
            stdout.write(f"simulator {name} {u.ws} {u.rest}\n")
        venues = simulator_venues(sim.urls)
    else:
        venues = await sync_to_async(database_venues)()
    fanout = None
    if feeds == "redis":  # market data from the feed processes (runfeeds) through Redis
        from marketdata.fanout import RedisFeeds

        fanout = RedisFeeds(settings.REDIS_URL, settings.MARKET_FANOUT_PREFIX, max_age=settings.MARKET_FANOUT_MAX_AGE)
    host = EngineHost(venues, config=config, paper=paper, feeds=fanout)
    # Leased (the default): any number of engines share the bots; see bots.workers.
    worker = EngineWorker(host) if settings.ENGINE_LEASES else None
    listener: asyncio.Task[Any] | None = None
    stop_metrics: Callable[[], None] | None = None
    try:
        count = await host.start(resume=worker is None)
        if worker is not None:
            count = await worker.start()
        listener = asyncio.create_task(worker.listen() if worker is not None else host.listen())
        if settings.METRICS_PORT:
            stop_metrics = serve_metrics(host.manager.prometheus_registry, settings.METRICS_PORT,
                                         settings.METRICS_HOST)
            stdout.write(f"metrics: http://{settings.METRICS_HOST}:{settings.METRICS_PORT}/metrics\n")
        stdout.write(f"engine: hosting {count} bot(s), market data from {feeds}, "
                     f"control channel {worker.channel if worker else settings.ENGINE_CONTROL_CHANNEL}"
                     f"{f', worker {worker.id}' if worker else ''}\n")
        stdout.flush()
        if stop is None:
            await listener
        else:
            await stop.wait()
    finally:
        if stop_metrics is not None:
            stop_metrics()
        if listener is not None:
            listener.cancel()
        if worker is not None:
            await worker.stop()  # hands its bots over before the host closes
        await host.stop()
        if sim is not None:
            await sim.stop()
        stdout.write("engine: stopped\n")
        stdout.flush()


async def run_embedded(*, feeds: str, stdout: IO[str], paper: PaperBroker | None = None) -> None:
    """The engine inside the single-process ``run`` (same loop as the web app, so the in-process
    channel layer reaches it). Runs until cancelled."""
    await serve(feeds=feeds, stdout=stdout, paper=paper)
