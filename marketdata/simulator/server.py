"""The :class:`Simulator`: one aiohttp server (HTTP + WebSocket) for every venue, plus its control API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from .binance.venue import BinanceVenue
from .coinbase import CoinbaseVenue
from .kraken import KrakenVenue
from .model import Market, MarketSpec, VenueMarkets, default_specs
from .venue import Venue

log = logging.getLogger(__name__)

VENUE_CLASSES: dict[str, type[Venue]] = {"binance": BinanceVenue, "coinbase": CoinbaseVenue, "kraken": KrakenVenue}
WS_PATHS = {"binance": "/binance/ws", "coinbase": "/coinbase/ws", "kraken": "/kraken/v2"}


@dataclass(frozen=True)
class VenueUrls:
    """Where a venue is served: ``ws`` (its main socket URL) and ``rest`` (the REST base URL)."""

    ws: str
    rest: str
    stream: str = ""  # Binance only: the combined-stream endpoint (``.../binance/stream``)

    def __iter__(self) -> Any:
        return iter((self.ws, self.rest))


class Simulator:
    """Loopback exchange simulator for Binance spot, Coinbase Advanced Trade and Kraken v2."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: int = 7, tls: bool = False,
                 update_interval: float = 0.1, markets: dict[str, list[MarketSpec]] | None = None,
                 replay: str | Path | None = None, speed: float = 1.0, replay_venue: str = "binance",
                 replay_symbol: str | None = None, ping_interval: float = 20.0,
                 heartbeat_interval: float = 1.0, cert_dir: str | Path | None = None,
                 pong_timeout: float | None = None, binance_message_limit: int | None = None,
                 max_connection_age: float | None = None,
                 venues: tuple[str, ...] = ("binance", "coinbase", "kraken")) -> None:
        self.host, self.port, self.seed, self.tls = host, port, seed, tls
        self.update_interval = update_interval
        self.ping_interval = ping_interval
        self.heartbeat_interval = heartbeat_interval
        self.replay_path, self.speed = replay, speed
        self.replay_venue, self.replay_symbol = replay_venue, replay_symbol
        self.cert_dir = cert_dir
        self.cert_path: str | None = None
        self.key_path: str | None = None
        self.paused = False
        specs = default_specs() | (markets or {})  # a venue left out keeps its default markets
        self.venues: dict[str, Venue] = {}
        for name in venues:
            table = VenueMarkets(name)
            for spec in specs.get(name, []):
                table.add(Market(name, spec, seed))
            self.venues[name] = VENUE_CLASSES[name](self, table)
        if "binance" in self.venues:
            binance = self.venues["binance"]
            # Binance drops a socket that leaves pings unanswered for a minute (3 pings at 20 s)
            binance.pong_timeout = pong_timeout if pong_timeout is not None else 3 * ping_interval
            binance.message_limit = binance_message_limit
            binance.max_age = max_connection_age
        self.urls: dict[str, VenueUrls] = {}
        self.plain_urls: dict[str, VenueUrls] = {}
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.replayer: Any = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> Simulator:
        """Bind, start the model and return self once every URL in ``urls`` accepts connections."""
        app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[_bad_parameters])
        for venue in self.venues.values():
            venue.add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        plain = web.TCPSite(self._runner, self.host, 0 if self.tls else self.port)
        await plain.start()
        plain_port = _bound_port(plain)
        self.plain_urls = self._make_urls("ws", "http", plain_port)
        self.urls = self.plain_urls
        if self.tls:
            from .tls import make_self_signed

            self.cert_path, self.key_path = make_self_signed(self.host, self.cert_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.cert_path, self.key_path)
            secure = web.TCPSite(self._runner, self.host, self.port, ssl_context=context)
            await secure.start()
            self.urls = self._make_urls("wss", "https", _bound_port(secure))
            self.port = _bound_port(secure)
        else:
            self.port = plain_port
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._model_loop()), loop.create_task(self._slow_loop())]
        if self.replay_path:
            from .replay import Replayer

            self.replayer = Replayer(self, self.replay_path, self.speed, self.replay_venue, self.replay_symbol)
            self._tasks.append(loop.create_task(self.replayer.run()))
        return self

    def _make_urls(self, ws: str, http: str, port: int) -> dict[str, VenueUrls]:
        base = f"{self.host}:{port}"
        urls = {}
        for name in self.venues:
            stream = f"{ws}://{base}/binance/stream" if name == "binance" else ""
            urls[name] = VenueUrls(f"{ws}://{base}{WS_PATHS[name]}", f"{http}://{base}/{name}", stream)
        return urls

    async def stop(self) -> None:
        """Close every connection and the listening sockets."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        for venue in self.venues.values():
            for conn in list(venue.connections):
                conn.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _model_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(self.update_interval)
            now = loop.time()
            dt, last = now - last, now
            if self.paused:
                continue
            for venue in self.venues.values():
                for market in venue.markets.by_symbol.values():
                    if not market.paused:
                        venue.publish(market.step(dt))

    async def _slow_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            for venue in self.venues.values():
                try:
                    venue.on_second()
                except Exception:  # keep the heartbeat alive whatever one venue does
                    log.exception("simulator: periodic task of %s failed", venue.name)

    # -- prices ---------------------------------------------------------------------------------------
    def venue(self, name: str) -> Venue:
        """A venue object by name (``binance``, ``coinbase``, ``kraken``)."""
        return self.venues[name]

    @property
    def binance(self) -> BinanceVenue:
        """The Binance venue (accounts, orders, order-entry faults, firehose)."""
        return self.venues["binance"]  # type: ignore[return-value]

    @property
    def kraken(self) -> KrakenVenue:
        """The Kraken venue (accounts and orders of its private REST, ``bad_checksum``)."""
        return self.venues["kraken"]  # type: ignore[return-value]

    @property
    def coinbase(self) -> CoinbaseVenue:
        """The Coinbase venue (accounts and orders of its JWT-signed REST)."""
        return self.venues["coinbase"]  # type: ignore[return-value]

    def market(self, venue: str, symbol: str) -> Market:
        """A market by venue and unified symbol (or venue id)."""
        market = self.venues[venue].market(symbol)
        if market is None:
            raise KeyError(f"{venue} has no market {symbol!r}")
        return market

    def price(self, venue: str, symbol: str) -> Decimal:
        """The current model price."""
        return self.market(venue, symbol).price

    def best_bid_ask(self, venue: str, symbol: str) -> tuple[Decimal, Decimal]:
        """Current best bid and best ask."""
        market = self.market(venue, symbol)
        return market.best_bid()[0], market.best_ask()[0]

    async def set_price(self, venue: str, symbol: str, price: Decimal | str, qty: Decimal | str | None = None) -> None:
        """Move a market to ``price`` now and push its ticker, trade and book updates."""
        market = self.market(venue, symbol)
        event = market.move_to(Decimal(str(price)), Decimal(str(qty)) if qty is not None else None)
        self.venues[venue].publish(event)
        await asyncio.sleep(0)

    async def step(self, venue: str | None = None, count: int = 1, dt: float | None = None) -> None:
        """Advance the random walk ``count`` steps by hand (works while paused)."""
        for _ in range(count):
            for name, v in self.venues.items():
                if venue is None or venue == name:
                    for market in v.markets.by_symbol.values():
                        v.publish(market.step(dt or self.update_interval))
        await asyncio.sleep(0)

    def pause(self, venue: str | None = None, symbol: str | None = None) -> None:
        """Stop the random walk (everywhere, for a venue, or for one market) so a test drives the path."""
        self._set_paused(venue, symbol, True)

    def resume(self, venue: str | None = None, symbol: str | None = None) -> None:
        """Restart the random walk paused by :meth:`pause`."""
        self._set_paused(venue, symbol, False)

    def _set_paused(self, venue: str | None, symbol: str | None, value: bool) -> None:
        if venue is None and symbol is None:
            self.paused = value
            for v in self.venues.values():
                for market in v.markets.by_symbol.values():
                    market.paused = value
            return
        for name, v in self.venues.items():
            if venue in (None, name):
                for market in v.markets.by_symbol.values():
                    if symbol in (None, market.spec.symbol, market.spec.venue_id):
                        market.paused = value

    # -- faults ---------------------------------------------------------------------------------------
    def drop_connections(self, venue: str, clean: bool = False) -> int:
        """Cut every connection of a venue (TCP abort, or a close frame if ``clean``)."""
        return self.venues[venue].drop_connections(clean)

    def stall(self, venue: str, seconds: float | None = None, include_new: bool = False) -> int:
        """Stop sending on a venue's open sockets (kept open); resume after ``seconds`` if given."""
        count = self.venues[venue].stall(True, include_new)
        if seconds is not None:
            asyncio.get_running_loop().call_later(seconds, self.unstall, venue)
        return count

    def unstall(self, venue: str) -> None:
        """End a stall (frames produced meanwhile were dropped)."""
        self.venues[venue].stall(False)

    def send_malformed(self, venue: str) -> int:
        """Push malformed frames to every connection of a venue."""
        return self.venues[venue].send_malformed()

    def sequence_gap(self, venue: str, symbol: str | None = None, size: int = 5) -> None:
        """Binance: next depth event skips ``size`` ids; Coinbase: next frame skips ``size`` sequence_num."""
        self.venues[venue].sequence_gap(symbol, size)

    def bad_checksum(self, symbol: str | None = None, count: int = 1) -> None:
        """Kraken: the next ``count`` book updates carry a wrong checksum."""
        self.kraken.bad_checksum(symbol, count)

    def slow_acks(self, venue: str, seconds: float) -> None:
        """Delay subscribe acknowledgements of a venue by ``seconds`` (0 turns it off)."""
        self.venues[venue].slow_acks(seconds)

    def refuse_connections(self, venue: str, seconds: float) -> None:
        """Answer a venue's WebSocket handshakes with HTTP 503 for ``seconds``."""
        self.venues[venue].refuse_connections(seconds)

    def clear_faults(self) -> None:
        """Turn every fault off: stalls, slow acks, refusals, pending gaps and bad checksums, order faults."""
        for venue in self.venues.values():
            venue.stall(False)
            venue.ack_delay = 0.0
            venue.refuse_until = 0.0
            venue.gap_pending.clear()
        if "kraken" in self.venues:
            self.kraken.bad_checksums.clear()
        for venue in self.venues.values():
            venue.clear_order_faults()
            venue.trading.clock_offset_ms = 0
            venue.trading.forced_rate_limits = 0

    async def reset(self, timeout: float = 2.0) -> None:
        """Back to a clean state for the next test: faults off, walk resumed, sockets closed, no accounts."""
        self.clear_faults()
        self.resume()
        for venue in self.venues.values():
            venue.trading.reset()
            venue.drop_connections()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(v.connections for v in self.venues.values()) and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def connection_count(self, venue: str) -> int:
        """Open WebSocket connections of a venue."""
        return len(self.venues[venue].connections)

    def subscriptions(self, venue: str) -> list[set[Any]]:
        """Per open connection, its set of subscriptions (venue-specific keys)."""
        return [set(c.subs) for c in self.venues[venue].connections]

    # -- benchmarks -----------------------------------------------------------------------------------
    async def firehose(self, count: int, symbol: str = "BTC/USDT") -> int:
        """Send ``count`` pre-encoded Binance bookTicker frames to each subscriber as fast as possible."""
        return await self.binance.firehose(symbol, count)

    async def paced(self, rate: float, duration: float, symbol: str = "BTC/USDT") -> int:
        """Send Binance bookTicker frames at ``rate``/s for ``duration`` s with send time in E/T/sim_ns."""
        return await self.binance.paced(symbol, rate, duration)


BAD_PARAMETER_BODIES: dict[str, dict[str, Any]] = {
    "binance": {"code": -1100, "msg": "Illegal characters found in a parameter."},
    "coinbase": {"error": "INVALID_ARGUMENT", "error_details": "invalid parameter", "message": "invalid parameter"},
    "kraken": {"error": ["EGeneral:Invalid arguments"]},
}


@web.middleware
async def _bad_parameters(request: web.Request, handler: Any) -> web.StreamResponse:
    """A malformed REST parameter gets the venue's 400 error, never a 500 or a traceback."""
    try:
        return await handler(request)
    except (ValueError, KeyError, ArithmeticError, TypeError):
        venue = request.path.strip("/").split("/", 1)[0]
        body = BAD_PARAMETER_BODIES.get(venue, {"error": "bad request"})
        return web.json_response(body, status=200 if venue == "kraken" else 400)


def _bound_port(site: web.TCPSite) -> int:
    server = site._server  # aiohttp keeps the asyncio server here; port 0 needs the real number
    assert isinstance(server, asyncio.Server) and server.sockets
    return int(server.sockets[0].getsockname()[1])
