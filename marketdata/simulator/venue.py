"""What every simulated venue shares: WebSocket connections with their own send queue, and faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from .matching import Account, MatchingEngine, Order
from .model import Market, MarketEvent, VenueMarkets

log = logging.getLogger(__name__)

MAX_QUEUE = 100_000  # frames queued for one slow client before we cut it off, as the venues do

MALFORMED_FRAMES = (
    '{"stream":"btcusdt@trade","data":{"e":"trade",',  # truncated JSON
    "this is not json",
    "[1,2,3]",  # valid JSON of an unexpected shape
    '{"unexpected":"object","with":{"nested":null}}',
    '{"e":"depthUpdate","s":"BTCUSDT","U":"x","u":null,"b":[["bad"]],"a":5}',  # known type, bad fields
)


@dataclass
class OrderFaults:
    """Switches for a venue's order-entry endpoints (place and cancel), to test lost and late answers."""

    ack_delay: float = 0.0  # seconds to hold each accepted response
    ack_delay_count: int | None = None  # how many responses to delay (None: until cleared)
    fail_count: int = 0  # next N requests fail without being processed
    fail_status: int = 500
    fail_code: int | None = None  # Binance: the error code of the failure body (default -1001)
    drop_count: int = 0  # next N requests are processed, then the response is never sent
    drop_mode: str = "close"  # "close": cut the connection; "hang": hold it open with no answer

    def clear(self) -> None:
        """Turn every order-entry fault off."""
        self.ack_delay, self.ack_delay_count, self.fail_count, self.drop_count = 0.0, None, 0, 0


class Connection:
    """One client socket: a queue drained by its own writer task so a slow client stalls only itself."""

    def __init__(self, venue: Venue, ws: web.WebSocketResponse, request: web.Request) -> None:
        self.venue = venue
        self.ws = ws
        self.request = request
        self.queue: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.stalled = False
        self.closed = False
        self.subs: set[Any] = set()
        self.seq = 0  # Coinbase: one sequence_num counter per connection
        self.state: dict[str, Any] = {}  # protocol-specific (Binance combined flag, Kraken depths...)
        self.sent = 0
        self.writer = asyncio.create_task(self._write_loop())

    def send(self, text: str) -> None:
        """Queue a text frame (dropped while the connection is stalled)."""
        if self.closed or self.stalled:
            return
        self.queue.append(text)
        if len(self.queue) > MAX_QUEUE:
            self.abort()
            return
        self.wakeup.set()

    async def _write_loop(self) -> None:
        try:
            while not self.closed:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.queue and not self.closed:
                    await self.ws.send_str(self.queue.popleft())
                    self.sent += 1
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        self.closed = True
        self.wakeup.set()
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def close(self) -> None:
        """Close cleanly with a close frame."""
        self.closed = True
        self.wakeup.set()
        with contextlib.suppress(Exception):
            await self.ws.close()


class VenueHost(Protocol):
    """What a venue reads from the simulator that hosts it (the venues never import the server)."""

    seed: int
    ping_interval: float


class Venue:
    """Base for a venue: connection bookkeeping, the WebSocket accept loop, the fault switches, and the
    control API of its signed REST (accounts, permissions, rate limits) over the shared matching engine."""

    name = "venue"
    default_fees = ("0.001", "0.001")  # (maker, taker) of a new account unless given
    trading: MatchingEngine

    def __init__(self, sim: VenueHost, markets: VenueMarkets) -> None:
        self.sim = sim
        self.markets = markets
        self.connections: set[Connection] = set()
        self.refuse_until = 0.0
        self.ack_delay = 0.0
        self.stall_new = False
        self.gap_pending: dict[str, int] = {}  # symbol -> size of the gap to open on the next event
        self.accepted = 0
        self.refused = 0
        self.client_errors = 0  # client frames that raised while being handled (counted, then skipped)
        self.replay: Any = None  # a Replayer feeding recorded frames, if any
        self.message_limit: int | None = None  # client frames per second before we disconnect (Binance: 5)
        self.max_age: float | None = None  # seconds a connection may live (Binance: 24 h)
        self.pong_timeout: float | None = None  # seconds without a pong before we disconnect (Binance: 60)
        self.order_faults = OrderFaults()

    # -- to implement per venue -----------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        """Register this venue's WebSocket and REST routes under ``/<name>``."""
        raise NotImplementedError

    async def on_open(self, conn: Connection) -> None:
        """Send whatever the venue sends on connect."""

    async def on_text(self, conn: Connection, text: str) -> None:
        """Handle one client text frame."""

    def on_close(self, conn: Connection) -> None:
        """Forget a closed connection's subscriptions."""

    def publish(self, event: MarketEvent) -> None:
        """Send a market event to the subscribers of its streams."""

    def on_second(self) -> None:
        """Periodic work: heartbeats, once-a-second streams."""

    def send_replayed(self, raw: str) -> int:
        """Send a recorded frame verbatim to every connection; return how many got it."""
        conns = [c for c in self.connections if not c.closed]
        for conn in conns:
            conn.send(raw)
        return len(conns)

    # -- accounts (control API) -----------------------------------------------------------------------
    def add_account(self, api_key: str, secret: str, balances: dict[str, Decimal | str | int] | None = None,
                    maker_fee: Decimal | str | None = None, taker_fee: Decimal | str | None = None,
                    permissions: tuple[str, ...] | frozenset[str] | None = None) -> Account:
        """Register a key with free balances (``{"USD": "10000"}``), fees and permissions (read, trade,
        withdraw; default read + trade)."""
        maker = maker_fee if maker_fee is not None else self.default_fees[0]
        taker = taker_fee if taker_fee is not None else self.default_fees[1]
        return self.trading.add_account(api_key, secret, balances, maker, taker, permissions)

    def balances(self, api_key: str) -> dict[str, tuple[Decimal, Decimal]]:
        """``{asset: (free, locked)}`` of an account."""
        return self.trading.balances(api_key)

    def set_permissions(self, api_key: str, permissions: tuple[str, ...] | frozenset[str]) -> None:
        """Change what a key may do (read, trade, withdraw)."""
        self.trading.set_permissions(api_key, permissions)

    def limit_requests(self, api_key: str, limit: int | None, window: float = 1.0) -> None:
        """Allow a key ``limit`` signed requests per ``window`` seconds (None lifts it)."""
        self.trading.limit_requests(api_key, limit, window)

    def rate_limit_next(self, count: int = 1, api_key: str | None = None) -> None:
        """Answer the next ``count`` signed requests (of one key or any) with the venue's rate-limit error."""
        self.trading.rate_limit_next(count, api_key)

    def render_order(self, order: Order) -> dict[str, Any]:
        """An order in the venue's own REST shape."""
        raise NotImplementedError

    def orders(self, api_key: str, open_only: bool = False) -> list[dict[str, Any]]:
        """Every order of an account in the venue's REST shape, oldest first."""
        orders = self.trading.accounts[api_key].orders.values()
        return [self.render_order(o) for o in orders if o.is_open or not open_only]

    def create_orphan_order(self, api_key: str, symbol: str, side: str, quantity: Decimal | str,
                            price: Decimal | str | None = None, client_order_id: str | None = None) -> dict[str, Any]:
        """Place an order on the account that the platform never sent (LIMIT GTC, or MARKET without price)."""
        market = self.market(symbol)
        if market is None:
            raise KeyError(symbol)
        kind = "MARKET" if price is None else "LIMIT"
        order = self.trading.submit(self.trading.accounts[api_key], market, side.upper(), kind,
                                    Decimal(str(quantity)), Decimal(str(price or 0)), "GTC", client_order_id)
        return self.render_order(order)

    # -- order-entry faults ---------------------------------------------------------------------------
    def delay_order_acks(self, seconds: float, count: int | None = None) -> None:
        """Process order entry at once but hold the next ``count`` responses (all if None) ``seconds``."""
        self.order_faults.ack_delay, self.order_faults.ack_delay_count = seconds, count

    def fail_next_orders(self, count: int, status: int = 500, code: int | None = None) -> None:
        """Answer the next ``count`` order-entry requests with HTTP ``status`` (the venue's internal-error
        body; ``code`` sets Binance's) without processing them."""
        self.order_faults.fail_count, self.order_faults.fail_status = count, status
        self.order_faults.fail_code = code

    def drop_next_order_responses(self, count: int = 1, mode: str = "close") -> None:
        """Accept the next ``count`` order-entry requests but never answer (``close`` the socket or ``hang``)."""
        self.order_faults.drop_count, self.order_faults.drop_mode = count, mode

    def clear_order_faults(self) -> None:
        """Turn every order-entry fault off."""
        self.order_faults.clear()

    def failure_body(self, code: int | None) -> Any:
        """The venue's body for an internal error (``fail_next_orders``): JSON, or text if a str."""
        raise NotImplementedError

    def injected_failure(self) -> web.Response | None:
        """The failure to answer this order-entry request with instead of processing it, if one is due."""
        faults = self.order_faults
        if faults.fail_count <= 0:
            return None
        faults.fail_count -= 1
        body = self.failure_body(faults.fail_code)
        if isinstance(body, str):
            return web.Response(status=faults.fail_status, text=body)
        return web.json_response(body, status=faults.fail_status)

    async def hold_answer(self, request: web.Request) -> web.Response | None:
        """After an order-entry request was processed: lose or delay its answer if a fault says so.

        Returns the response to send instead (a dropped connection), or None to answer normally.
        """
        faults = self.order_faults
        if faults.drop_count > 0:  # accepted, but the client never hears so
            faults.drop_count -= 1
            if faults.drop_mode == "close" and request.transport is not None:
                request.transport.abort()
                return web.Response(status=500)
            await asyncio.sleep(3600)
        if faults.ack_delay > 0 and faults.ack_delay_count != 0:
            if faults.ack_delay_count is not None:
                faults.ack_delay_count -= 1
            await asyncio.sleep(faults.ack_delay)
        return None

    # -- WebSocket plumbing ---------------------------------------------------------------------------
    async def serve_ws(self, request: web.Request, heartbeat: float | None = None,
                       state: dict[str, Any] | None = None) -> web.StreamResponse:
        """Accept a WebSocket (or refuse it with 503 while ``refuse_connections`` is active)."""
        if time.monotonic() < self.refuse_until:
            self.refused += 1
            raise web.HTTPServiceUnavailable(text="simulator: refusing connections")
        # autoping off: a stalled connection must not even answer pings; we pong by hand below
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(self, ws, request)
        conn.state.update(state or {})
        conn.stalled = self.stall_new
        self.connections.add(conn)
        self.accepted += 1
        pinger = asyncio.create_task(self._ping_loop(conn, heartbeat)) if heartbeat else None
        ager = asyncio.get_running_loop().call_later(self.max_age, conn.abort) if self.max_age else None
        window_start, window_count = time.monotonic(), 0
        conn.state["last_pong"] = time.monotonic()
        try:
            await self.on_open(conn)
            async for msg in ws:
                if self.message_limit is not None:  # pings, pongs and requests all count, as on Binance
                    now = time.monotonic()
                    if now - window_start >= 1.0:
                        window_start, window_count = now, 0
                    window_count += 1
                    if window_count > self.message_limit:
                        conn.abort()
                        break
                if msg.type == WSMsgType.PONG:
                    conn.state["last_pong"] = time.monotonic()
                elif msg.type == WSMsgType.TEXT:
                    try:
                        await self.on_text(conn, msg.data)
                    except Exception:  # a bad client frame never takes the server down
                        self.client_errors += 1
                        log.exception("simulator %s: error handling %r", self.name, msg.data[:200])
                elif msg.type == WSMsgType.PING and not conn.stalled:
                    await ws.pong(msg.data)
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            conn.closed = True
            conn.wakeup.set()
            if pinger:
                pinger.cancel()
            if ager:
                ager.cancel()
            self.connections.discard(conn)
            self.on_close(conn)
            conn.writer.cancel()
        return ws

    async def _ping_loop(self, conn: Connection, interval: float) -> None:
        with contextlib.suppress(Exception):
            while not conn.closed:
                await asyncio.sleep(interval)
                if self.pong_timeout and time.monotonic() - conn.state["last_pong"] > self.pong_timeout:
                    conn.abort()  # the client stopped answering our pings
                    return
                if not conn.stalled:
                    await conn.ws.ping(b"sim")

    async def maybe_delay_ack(self) -> None:
        """Hold a subscribe acknowledgement while ``slow_acks`` is active."""
        if self.ack_delay > 0:
            await asyncio.sleep(self.ack_delay)

    def market(self, name: str) -> Market | None:
        """A market by unified symbol or venue id."""
        return self.markets.get(name)

    # -- faults ---------------------------------------------------------------------------------------
    def drop_connections(self, clean: bool = False) -> int:
        """Cut every open connection (abruptly unless ``clean``); return how many."""
        conns = list(self.connections)
        for conn in conns:
            if clean:
                asyncio.ensure_future(conn.close())
            else:
                conn.abort()
        return len(conns)

    def stall(self, stalled: bool = True, include_new: bool = False) -> int:
        """Stop (or restart) sending on every open connection while keeping the sockets open."""
        for conn in self.connections:
            conn.stalled = stalled
            if not stalled:
                conn.wakeup.set()
        self.stall_new = stalled and include_new
        return len(self.connections)

    def send_malformed(self, frames: tuple[str, ...] = MALFORMED_FRAMES) -> int:
        """Push malformed frames to every connection; return how many frames were queued."""
        count = 0
        for conn in self.connections:
            for frame in frames:
                conn.send(frame)
                count += 1
        return count

    def refuse_connections(self, seconds: float) -> None:
        """Answer new WebSocket handshakes with HTTP 503 for ``seconds``."""
        self.refuse_until = time.monotonic() + seconds

    def slow_acks(self, seconds: float) -> None:
        """Delay every subscribe acknowledgement by ``seconds`` (0 turns it off)."""
        self.ack_delay = seconds

    def sequence_gap(self, symbol: str | None = None, size: int = 5) -> None:
        """Make the next update of ``symbol`` (all symbols when None) skip ``size`` sequence numbers."""
        for name in self._symbols(symbol):
            self.gap_pending[name] = size

    def _symbols(self, symbol: str | None) -> list[str]:
        """Unified symbols named by ``symbol`` (a unified name or venue id), or all of them."""
        if symbol is None:
            return list(self.markets.by_symbol)
        market = self.market(symbol)
        if market is None:
            raise KeyError(f"{self.name} has no market {symbol!r}")
        return [market.spec.symbol]
