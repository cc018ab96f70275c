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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import IO, Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Q
from prometheus_client import CollectorRegistry

from marketdata.exchanges.base import Adapter, Credentials, Endpoint
from marketdata.exchanges.registry import endpoint_for, get_adapter
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.metrics import serve_metrics
from marketdata.feeds.transport import make_transport
from marketdata.models import Exchange, Venue
from marketdata.simulator.server import Simulator, VenueUrls

from . import events, price_memory
from .engine.brokers import PaperBroker
from .engine.brokers.live import LiveAccount, LiveGateways
from .engine.clocks import ExchangeClock, SkewedClock
from .engine.engine import Engine, EngineConfig
from .engine.history import KlineHistory
from .engine.ports import Clock, Feeds, History, SystemClock
from .models import ENGINE_DOWN_REASON, Bot, BotStatus
from .reader_history import ReaderHistory
from .services.lifecycle import CLOSING_REASON, set_bot_status
from .services.limits import account_limits
from .store import DjangoStore, Loaded, StoreCollector
from .workers import EngineWorker

log = logging.getLogger(__name__)
PAPER_SLIPPAGE_BPS = Decimal(5)
CONTROL_RETRY_MIN, CONTROL_RETRY_MAX = 0.2, 2.0  # seconds between probes of an unreachable layer
LOAD_BATCH = 100  # bots read per job of the writer thread when many are taken up at once
RELOAD_LOOKBACK = timedelta(seconds=60)  # longer than the layer's message expiry (30 s)
CONTROL_PROBE = 1.0  # a receive that blocks this long without an error: the layer is back


@dataclass
class Venues:
    """Where each exchange code's market data and REST API live, and which protocol it speaks."""

    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    adapters: dict[str, Adapter] = field(default_factory=dict)  # codes that are not a protocol's own name

    def adapter(self, code: str) -> Adapter:
        """The adapter of an exchange code (the simulator's is the protocol it speaks)."""
        return self.adapters.get(code) or get_adapter(code)


def simulator_venues(urls: Mapping[str, VenueUrls]) -> Venues:
    """Every exchange code of the catalogue pointed at the simulator's endpoints of the protocol it speaks
    (the ``simulator`` exchange speaks Binance's)."""
    from marketdata.catalogue import EXCHANGES

    v = Venues()
    for code, u in urls.items():
        v.endpoints[code] = Endpoint(ws=u.stream or u.ws, rest=u.rest)
    for spec in EXCHANGES:
        if spec["code"] not in v.endpoints and spec["protocol"] in urls:
            v.endpoints[spec["code"]] = v.endpoints[spec["protocol"]]
            v.adapters[spec["code"]] = get_adapter(spec["protocol"])
    return v


def database_venues() -> Venues:
    """The exchanges' real public endpoints (their testnets when flagged), or the overrides saved on each
    ``Exchange`` row (sync). The ``simulator`` exchange is left out: a bot on it cannot start here, so
    nothing meant for the simulator reaches a real venue."""
    v = Venues()
    for ex in Exchange.objects.enabled().exclude(code=Venue.SIMULATOR):  # exists only in simulator mode
        try:
            v.endpoints[ex.code] = endpoint_for(ex.protocol, ws_url=ex.ws_url, rest_url=ex.rest_url, testnet=ex.testnet)
        except ValueError as exc:  # a testnet asked where there is none: not the real venue instead
            log.error("exchange %s left out: %s", ex.code, exc)
            continue
        if ex.code != ex.protocol:
            v.adapters[ex.code] = get_adapter(ex.protocol)
    return v


def fanout_venues() -> Venues:
    """The venues of an engine on the Redis fan-out (``runengine --feeds redis``; sync): every
    enabled exchange (the ``simulator`` one too when it exists) with its protocol's adapter. Market
    data comes from the feed processes and warm-up history from the REST their readers advertise
    (``bots.reader_history``). The endpoints kept here serve live accounts only: the real ones under
    live market data; in simulator mode only those set on the exchange row (no real venue is ever
    called), so a live bot on a venue without one does not start (``EngineHost._host``)."""
    v = Venues()
    live = settings.MARKET_DATA_SOURCE == "live"
    for ex in Exchange.objects.enabled():
        v.adapters[ex.code] = get_adapter(ex.protocol)
        endpoint = Endpoint(ws="", rest="")
        if ex.rest_url or (live and ex.code != Venue.SIMULATOR):
            with contextlib.suppress(ValueError):
                endpoint = endpoint_for(ex.protocol, ws_url=ex.ws_url, rest_url=ex.rest_url, testnet=ex.testnet)
        v.endpoints[ex.code] = endpoint
    return v


def local_clock() -> Clock:
    """The machine's clock (put off by ``CLOCK_SKEW_SECONDS`` in drills only)."""
    skew = settings.CLOCK_SKEW_SECONDS
    return SkewedClock(skew) if skew else SystemClock()


def paper_broker(clock: Clock | None = None) -> PaperBroker:
    """The engine's paper broker (5 bps of slippage on market orders)."""
    return PaperBroker(clock or SystemClock(), slippage_bps=PAPER_SLIPPAGE_BPS)


class EngineHost:
    """The engine and its real ports, with control and resume."""

    def __init__(self, venues: Venues, *, clock: Clock | None = None, config: EngineConfig | None = None,
                 paper: PaperBroker | None = None, feeds: Feeds | None = None, history: History | None = None,
                 slippage_bps: Decimal = PAPER_SLIPPAGE_BPS, poll_interval: float = 1.0) -> None:
        self.venues = venues
        self.clock = clock or ExchangeClock(local_clock())
        # ``feeds``: the Redis fan-out (``runengine --feeds redis``) instead of reading venues here.
        self.manager = feeds or MarketDataManager(endpoints=venues.endpoints, adapters=venues.adapters,
                                                  transport=make_transport(settings.FEED_TRANSPORT))
        self.store = DjangoStore(max_backlog=settings.ENGINE_MAX_WRITE_BACKLOG)
        # The manager's registry (feed metrics) when this process reads venues; its own otherwise.
        self.registry = getattr(self.manager, "prometheus_registry", None) or CollectorRegistry(auto_describe=False)
        self.registry.register(StoreCollector(self.store))
        # Passed in when in-process reconciliation (the single-process ``run``) reads the same book.
        self.paper = paper or PaperBroker(self.clock, slippage_bps=slippage_bps)
        for code in venues.endpoints:  # e.g. the simulator exchange pays its protocol's published base tier
            self.paper.fees.setdefault(code, venues.adapter(code).fee_schedule)
        self.live = LiveGateways(self.clock, poll_interval=poll_interval)
        self.history = history or KlineHistory({code: (venues.adapter(code), e)
                                                for code, e in venues.endpoints.items()})
        self.engine = Engine(clock=self.clock, feeds=self.manager, store=self.store, events=self.store,
                             paper=self.paper, live=self.live, history=self.history, config=config)
        self._tasks: list[asyncio.Task[Any]] = []
        self.control_outages = 0

    async def start(self, *, resume: bool = True) -> int:
        """Start the store, the engine and feed-health publishing; resume active bots. Returns how many."""
        self.store.start()
        await self.engine.start()
        if hasattr(self.manager, "metrics"):  # on the fan-out, the feed processes publish feed health
            self._tasks.append(asyncio.create_task(events.publish_feed_health_forever(self.manager.metrics)))
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
        await self.start_bots(ids)
        return len(ids)

    async def start_bot(self, bot_id: int) -> bool:
        """Load a bot from the database and host it (paused bots stay paused)."""
        return bot_id in await self.start_bots([bot_id])

    async def start_bots(self, bot_ids: list[int]) -> set[int]:
        """Load bots from the database and host them (paused bots stay paused); returns those started.
        They are read ``LOAD_BATCH`` at a time, each batch in one job of the writer thread (a few
        queries, whatever its size) with their owners' limits: taking over hundreds of bots costs a
        handful of round trips instead of several per bot."""
        started: set[int] = set()
        for i in range(0, len(bot_ids), LOAD_BATCH):
            chunk = list(bot_ids[i:i + LOAD_BATCH])
            loaded = await self.store.aload_many(chunk)
            owners = {x.spec.owner_id for x in loaded.values() if not self.engine.owners.has_limits(x.spec.owner_id)}
            if owners:
                limits = await self.store.arun(lambda owners=owners: {o: account_limits(o) for o in owners})
                for owner_id, owner_limits in limits.items():
                    self.engine.set_owner_limits(owner_id, owner_limits)
            results = await asyncio.gather(*(self._host(bot_id, loaded[bot_id]) for bot_id in chunk
                                             if bot_id in loaded))
            started.update(bot_id for bot_id, ok in zip([b for b in chunk if b in loaded], results, strict=True)
                           if ok)
        return started

    async def _host(self, bot_id: int, loaded: Loaded) -> bool:
        spec, position, orders, account = loaded.spec, loaded.position, loaded.orders, loaded.account
        status, reason, seq = loaded.status, loaded.status_reason, loaded.control_seq
        if status == BotStatus.STOPPED or (status == BotStatus.ERROR and not reason.startswith(ENGINE_DOWN_REASON)):
            # Stopped (or failed) since it was claimed, e.g. a stop sent while the bot moved here:
            # the row is the request; hosting the bot would write "running" over it.
            log.info("bot %s not started: it is %s (%s)", bot_id, status, reason)
            return False
        if spec.instrument.exchange not in self.venues.endpoints:
            # a simulator bot under real feeds, or a real venue under the simulator's: never crossed over
            await self.store.arun(lambda: set_bot_status(
                Bot.objects.get(pk=spec.id), "error", f"{spec.instrument.exchange} is not served by this engine"))
            return False
        if account is not None and not self.venues.endpoints[spec.instrument.exchange].rest:
            # no order API for this venue here (the fan-out in simulator mode): an empty endpoint would
            # mean the venue's real one to the live broker, and an offline run never calls a real venue
            await self.store.arun(lambda: set_bot_status(
                Bot.objects.get(pk=spec.id), "error", f"{spec.instrument.exchange} has no order API here: in "
                "simulator mode a live bot trades only on an exchange whose REST URL is set (make run trades on "
                "its own simulator)"))
            return False
        if account is not None:
            code = spec.instrument.exchange
            self.live.add_account(account.id, LiveAccount(
                self.venues.adapter(code).name, Credentials(account.api_key, account.api_secret, account.passphrase),
                self.venues.endpoints[code].rest))
            await self.live.prepare(account.id, spec.instrument.symbol)  # the account's fees and balances
        # The status read here answers every request up to ``seq``: older messages are stale.
        self.store.applied_seq[bot_id] = max(seq, self.store.applied_seq.get(bot_id, 0))
        runner = await self.engine.start_bot(spec, position, orders,
                                             paused=reason or "Paused" if status == "paused" else None)
        if runner is not None:
            if status == BotStatus.PAUSED and reason.startswith(CLOSING_REASON):
                # the row is the request: its "close" message may have come before the bot was claimed
                self.engine.close_position(bot_id)
            self._tasks.append(asyncio.create_task(self._backfill_chart(spec.id, spec.instrument)))
        return runner is not None

    async def resync_bot(self, bot_id: int) -> bool:
        """Reload a hosted bot's position and open orders from the database (reconciliation wrote
        there). A fill the engine applies while the rows are read makes it read them again."""
        for _ in range(5):
            runner = self.engine.bots.get(bot_id)
            if runner is None:
                return False
            seen = runner.position.fills
            _, position, orders, _ = await self.store.aload(bot_id)
            runner = self.engine.bots.get(bot_id)
            if runner is not None and runner.position.fills == seen:
                return self.engine.resync_bot(bot_id, position, orders)
        log.warning("bot %s kept filling during its resync; the next one takes it", bot_id)
        return False

    async def _backfill_chart(self, bot_id: int, instrument: Any) -> None:
        """The bot page's chart starts full: recent 1-minute klines from the venue (where it has them)."""
        try:
            history = await asyncio.wait_for(
                self.history.fetch_candles(instrument, "1m", price_memory.KEEP_CANDLES), 10)
            if history:
                await price_memory.aseed_candles(bot_id, history)
        except Exception as exc:  # the chart then fills from live prices alone
            log.info("chart backfill for bot %s failed: %r", bot_id, exc)

    async def control(self, message: Mapping[str, Any]) -> None:
        """Act on one control message: ``{"action": start|stop|pause|resume|reload|resync, "bot_id": id}``.
        A request numbered (``seq``) no later than one already applied to the bot is stale: ignored."""
        action, bot_id = message.get("action"), int(message.get("bot_id", 0))
        hosted = bot_id in self.engine.bots
        seq = message.get("seq")
        if seq is not None:
            applied = self.store.applied_seq.get(bot_id)
            if applied is not None and int(seq) <= applied:
                log.info("%s for bot %s ignored: request %s is not newer than %s, applied already", action,
                         bot_id, seq, applied)
                return
            if hosted:
                self.store.applied_seq[bot_id] = int(seq)
        if action == "limits":
            owner_id = int(message["owner_id"])
            self.engine.set_owner_limits(owner_id, await self.store.arun(account_limits, owner_id))
        elif action == "stop":
            await self.engine.stop_bot(bot_id, "Stopped by request")
        elif action == "pause":
            self.engine.pause_bot(bot_id, "Paused by request")
        elif action == "resync":
            await self.resync_bot(bot_id)
        elif action == "close":  # a stopped bot's leftover position: host it paused, then sell
            if not hosted:
                await self.start_bot(bot_id)
            self.engine.close_position(bot_id)
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
        """Take control messages from the channel layer's named channel until cancelled.

        When the layer's backend goes away (Redis restarting) the loop waits for it with backoff,
        then applies the statuses saved in the database: a message sent during the outage was
        refused (and recorded) or lost with Redis's memory, but the row it was about holds the truth."""
        layer = get_channel_layer()
        channel = channel or settings.ENGINE_CONTROL_CHANNEL
        while True:
            try:
                message = await layer.receive(channel)
            except Exception as exc:
                message = await self._reconnect(layer, channel, exc)
            if message is not None:
                await self._control_logged(message)

    async def _reconnect(self, layer: Any, channel: str, exc: BaseException) -> Mapping[str, Any] | None:
        """Wait for the layer to answer again, then apply the desired statuses; returns a message
        received on the way back (if any)."""
        log.warning("engine control channel unreachable (%r); bots keep trading, control waits", exc)
        self.control_outages += 1
        down_at = asyncio.get_running_loop().time()
        # Messages queued in Redis before the failure may be lost with it (the layer keeps them up to
        # its expiry): bots saved since a little before are reloaded.
        edited_since = datetime.now(UTC) - RELOAD_LOOKBACK
        delay, message = CONTROL_RETRY_MIN, None
        while True:
            await asyncio.sleep(delay)
            try:
                # A receive that blocks for a second without an error means the backend is back
                # (channels-redis keeps a cancelled receive's message in its backup queue).
                message = await asyncio.wait_for(layer.receive(channel), CONTROL_PROBE)
                break
            except TimeoutError:
                break
            except Exception:
                delay = min(delay * 2, CONTROL_RETRY_MAX)
        changed = await self.apply_desired_statuses(edited_since)
        log.warning("engine control channel back after %.1f s; applied the saved status of %d bot(s)",
                    asyncio.get_running_loop().time() - down_at, changed)
        return message

    async def _control_logged(self, message: Mapping[str, Any]) -> None:
        try:
            await self.control(message)
        except Exception:
            log.exception("engine control %r failed", message)

    async def apply_desired_statuses(self, edited_since: datetime | None = None) -> int:
        """Bring hosted bots to the statuses saved in the database (what lost control messages
        asked for): start ``starting`` bots, stop ``stopped`` ones, pause ``paused`` ones and resume
        paused bots asked to start again; reload hosted bots saved after ``edited_since`` (their
        settings may have changed); take every hosting owner's account-wide limits again. Returns
        how many bots it changed."""
        with contextlib.suppress(TimeoutError):
            await self.store.flush()  # the engine's own status writes land first: they are not requests
        hosted = list(self.engine.bots)
        saved: dict[int, tuple[str, datetime]] = await self.store.arun(lambda: {
            pk: (status, updated) for pk, status, updated in Bot.objects.filter(
                Q(pk__in=hosted) | Q(status=BotStatus.STARTING)).values_list("id", "status", "updated_at")})
        changed = 0
        for bot_id, (status, updated_at) in saved.items():
            runner = self.engine.bots.get(bot_id)
            if runner is None:
                action = "start" if status == BotStatus.STARTING else None
            elif status == BotStatus.STOPPED:
                action = "stop"
            elif status == BotStatus.PAUSED and runner.status == "running":
                action = "pause"
            elif status == BotStatus.STARTING and runner.status == "paused":
                action = "resume"
            elif edited_since is not None and updated_at > edited_since:
                action = "reload"
            else:
                action = None
            if action is not None:
                await self._control_logged({"action": action, "bot_id": bot_id})
                changed += 1
        for owner_id in self.engine.owners.owners():  # account-wide limits changed meanwhile
            self.engine.set_owner_limits(owner_id, await self.store.arun(account_limits, owner_id))
        return changed

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
                config: EngineConfig | None = None, paper: PaperBroker | None = None,
                served: dict[str, str] | None = None) -> None:
    """Run the engine with every active bot and its control channel until ``stop`` is set (or the
    task is cancelled). With ``feeds="simulator"`` a loopback simulator is started first and every
    stored account is registered on it. ``served`` receives exchange code -> REST base in use."""
    sim = None
    if feeds == "simulator":
        sim = await Simulator(host="127.0.0.1", port=0, seed=seed).start()
        for name, u in sim.urls.items():
            stdout.write(f"simulator {name} {u.ws} {u.rest}\n")
        venues = simulator_venues(sim.urls)
        await register_accounts_on(sim)
    elif feeds == "redis":
        venues = await sync_to_async(fanout_venues)()
    else:
        venues = await sync_to_async(database_venues)()
    for code, endpoint in sorted(venues.endpoints.items()):  # say where orders and data go, before any bot
        line = f"venue {code} ({venues.adapter(code).name} protocol): " + (
            "market data and history from the feed processes" if feeds == "redis"
            else f"ws {endpoint.ws} rest {endpoint.rest}")
        stdout.write(line + "\n")  # stdout only: the console handler would print a log record of it again
    if served is not None:
        served.update({code: endpoint.rest for code, endpoint in venues.endpoints.items()})
    fanout, history = None, None
    if feeds == "redis":  # market data from the feed processes (runfeeds) through Redis
        from marketdata.fanout import RedisFeeds

        fanout = RedisFeeds(settings.REDIS_URL, settings.MARKET_FANOUT_PREFIX, max_age=settings.MARKET_FANOUT_MAX_AGE)
        history = ReaderHistory()
    host = EngineHost(venues, config=config, paper=paper, feeds=fanout, history=history)
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
            stop_metrics = serve_metrics(host.registry, settings.METRICS_PORT,
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


async def register_accounts_on(sim: Simulator) -> int:
    """Register every stored account's keys on the simulator (simulator mode: its live bots trade
    there); a key the venue's simulator cannot take (e.g. not an EC key for Coinbase) is skipped."""
    from .services.demo import SIMULATOR_BALANCES, simulator_accounts

    count = 0
    for protocol, key, secret in await sync_to_async(simulator_accounts)():
        venue = sim.venues.get(protocol)
        try:
            if venue is not None and key not in venue.trading.accounts:
                venue.add_account(key, secret, dict(SIMULATOR_BALANCES))
                count += 1
        except (ValueError, TypeError) as exc:
            log.warning("a %s key could not be registered on the simulator: %s", protocol, exc)
    return count


async def run_embedded(*, feeds: str, stdout: IO[str], paper: PaperBroker | None = None,
                       served: dict[str, str] | None = None) -> None:
    """The engine inside the single-process ``run`` (same loop as the web app, so the in-process
    channel layer reaches it). Runs until cancelled."""
    await serve(feeds=feeds, stdout=stdout, paper=paper, served=served)
