"""One WebSocket to one venue: connect, subscribe, keep alive, detect a stale feed, reconnect, resubscribe.

Defaults (``ConnectionSettings``): connect timeout 30 s, protocol ping every 30 s with a 10 s pong
timeout (the SEED's numbers), stale after 60 s without a frame, and backoff from 1 s doubling to
30 s with 10 % jitter. Unlike the SEED (5 attempts) retries are unlimited: a trading platform must
come back by itself when the venue does. After a connection that had been up ``healthy_after``
seconds drops, the first retry is immediate (a venue restart or a lifetime cut is the common case)
and the backoff starts over; a connection that keeps failing backs off to the maximum.

Outgoing frames pass a sliding one-second window so the venue's rate limit is never hit
(Binance: 5 incoming messages/s, and the client's pongs count too, so we use one less).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from marketdata.exchanges.base import Action, Adapter, Endpoint, ParseError, RestClient, Session
from marketdata.feeds.metrics import ConnectionStats
from marketdata.feeds.options import Backoff, ConnectionSettings, FeedEvent, FeedEventKind, State
from marketdata.feeds.transport import Socket, Transport, TransportClosed, make_transport
from marketdata.feeds.types import MarketEvent, Subscription

log = logging.getLogger(__name__)
__all__ = ["Backoff", "Connection", "ConnectionSettings", "FeedEvent"]


class Connection:
    """One socket to one venue carrying many subscriptions."""

    def __init__(
        self,
        exchange: str,
        adapter: Adapter,
        endpoint: Endpoint,
        dispatch: Callable[[MarketEvent], None],
        on_event: Callable[[FeedEvent], None],
        settings: ConnectionSettings | None = None,
        transport: Transport | None = None,
        rest: RestClient | None = None,
        name: str | None = None,
    ) -> None:
        self.exchange = exchange
        self.adapter = adapter
        self.endpoint = endpoint
        self.dispatch = dispatch
        self.on_event = on_event
        self.settings = settings or ConnectionSettings()
        self.transport = transport or make_transport()
        self.rest = rest
        self.name = name or exchange
        self.subs: set[Subscription] = set()
        self.streams = 0
        self.state: State = "idle"
        self.last_error = ""
        self.stats = ConnectionStats()
        self.session: Session | None = None
        self._sock: Socket | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._pending_add: set[Subscription] = set()
        self._pending_remove: set[Subscription] = set()
        self._flush_scheduled = False
        self._task: asyncio.Task | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._side_tasks: set[asyncio.Task] = set()
        self._snapshots_inflight: set[str] = set()
        self._abort_reason = ""  # why we cut the socket ourselves (stale, lifetime), reported over the close error

    # --- public ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start connecting in the background (again, after ``failed``)."""
        if self._task is None or (self._task.done() and not self._closing):
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"feed:{self.name}")

    async def wait_connected(self, timeout: float) -> bool:
        """True once the socket is open (subscriptions sent), False on timeout."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def is_connected(self) -> bool:
        """True while the socket is open."""
        return self.state == "connected"

    def add(self, subs: Iterable[Subscription]) -> None:
        """Carry these subscriptions; on the wire now if connected, else at the next connect."""
        for sub in subs:
            if sub in self.subs:
                continue
            self.subs.add(sub)
            self.streams += self.adapter.streams(sub)
            if sub in self._pending_remove:
                self._pending_remove.discard(sub)
            else:
                self._pending_add.add(sub)
            if self.session is not None:
                self.session.add(sub, self.adapter.to_venue(sub.symbol))
        self._schedule_flush()

    def remove(self, subs: Iterable[Subscription]) -> None:
        """Stop carrying these subscriptions (unsubscribe on the wire if connected)."""
        for sub in subs:
            if sub not in self.subs:
                continue
            self.subs.discard(sub)
            self.streams -= self.adapter.streams(sub)
            if sub in self._pending_add:
                self._pending_add.discard(sub)
            else:
                self._pending_remove.add(sub)
            if self.session is not None:
                self.session.forget(sub)
        self._schedule_flush()

    async def drain(self, timeout: float = 2.0) -> None:
        """Send pending (un)subscribe frames now and wait until they are on the wire (bounded)."""
        self._flush()
        if self.state != "connected":
            return
        try:
            await asyncio.wait_for(self._outbox.join(), timeout)
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Graceful close: stop retrying, close the socket, wait for the loop to end."""
        self._closing = True
        sock = self._sock
        if sock is not None:
            try:
                await asyncio.wait_for(sock.close(), 3)
            except Exception:  # closing a broken socket must not fail the caller
                sock.abort()
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for t in list(self._side_tasks):
            t.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        if self.rest is not None:
            await self.rest.close()
        self.stats.mark_down()
        self.state = "closed"

    def drop(self) -> None:
        """Abort the socket now (tests, benchmarks, stale detection): the loop reconnects."""
        if self._sock is not None:
            self._sock.abort()

    # --- internals ------------------------------------------------------------------------------

    def _emit(self, kind: FeedEventKind, **detail: Any) -> None:
        try:
            self.on_event(FeedEvent(kind, self.exchange, detail, time.time_ns()))
        except Exception:  # a listener's bug must not end the connection
            log.exception("feed event listener failed")

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled and self.state == "connected":
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        # Batch what changed in this loop iteration into as few frames as possible (rate limits).
        self._flush_scheduled = False
        if self.state != "connected":
            return
        if self._pending_remove:
            for frame in self.adapter.unsubscribe_frames(sorted(self._pending_remove, key=_sub_key)):
                self._outbox.put_nowait(frame)
        if self._pending_add:
            for frame in self.adapter.subscribe_frames(sorted(self._pending_add, key=_sub_key)):
                self._outbox.put_nowait(frame)
        self._pending_add.clear()
        self._pending_remove.clear()

    async def _run(self) -> None:
        settings = self.settings
        attempt = 0
        url = self.adapter.connect_url(self.endpoint)
        while not self._closing:
            self.state = "connecting" if self.stats.reconnects == 0 and attempt == 0 else "reconnecting"
            try:
                sock = await asyncio.wait_for(
                    self.transport.open(
                        url,
                        max_frame_bytes=self.adapter.limits.max_frame_bytes,
                        ping_interval=settings.ping_interval,
                        ping_timeout=settings.pong_timeout,
                    ),
                    settings.connect_timeout,
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # refused, DNS, TLS, handshake, timeout: all retried
                self.last_error = f"connect failed: {exc!r}"
                attempt += 1
                if not await self._wait_before_retry(attempt, self.last_error):
                    return
                continue
            up_since = time.monotonic()
            await self._serve(sock)
            if self._closing:
                break
            self.stats.reconnects += 1
            self._emit("disconnected", reason=self.last_error)
            if time.monotonic() - up_since >= settings.healthy_after:
                attempt = 0
            attempt += 1
            if attempt == 1 and settings.immediate_first_retry:
                self._emit("reconnecting", attempt=attempt, delay=0.0, reason=self.last_error)
                self.state = "reconnecting"
                continue
            if not await self._wait_before_retry(attempt, self.last_error):
                return

    async def _wait_before_retry(self, attempt: int, reason: str) -> bool:
        backoff = self.settings.backoff
        if backoff.max_attempts is not None and attempt > backoff.max_attempts:
            self.state = "failed"
            self._emit("failed", attempts=attempt - 1, reason=reason)
            return False
        n = attempt - 1 if self.settings.immediate_first_retry and attempt > 1 else attempt
        delay = backoff.delay(n)
        self.state = "reconnecting"
        self._emit("reconnecting", attempt=attempt, delay=delay, reason=reason)
        await asyncio.sleep(delay)
        return not self._closing

    async def _serve(self, sock: Socket) -> None:
        """One connected lifetime: subscribe, read until the socket ends, clean up."""
        self._sock = sock
        session = self.adapter.new_session(self.dispatch, self.subs)
        session.exchange = self.exchange  # events carry our venue code (a simulator may speak Binance)
        session.on_resynced = self._on_resynced
        self.session = session
        self._outbox = asyncio.Queue()
        self._pending_add.clear()
        self._pending_remove.clear()
        self._snapshots_inflight.clear()
        for frame in self.adapter.on_connect_frames():
            self._outbox.put_nowait(frame)
        if self.subs:
            for frame in self.adapter.subscribe_frames(sorted(self.subs, key=_sub_key)):
                self._outbox.put_nowait(frame)
        self.state = "connected"
        self.stats.mark_up()
        self.stats.last_ns = time.time_ns()
        self._connected.set()
        self._emit("connected", url=self.adapter.connect_url(self.endpoint), subscriptions=len(self.subs))
        sender = asyncio.create_task(self._send_loop(sock))
        watchdog = asyncio.create_task(self._watchdog(sock))
        self._abort_reason = ""
        try:
            await self._read(sock, session)
            self.last_error = self._abort_reason or "closed by peer"
        except TransportClosed as exc:
            self.last_error = self._abort_reason or f"socket closed: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let one bad frame path end the feed
            log.exception("feed %s read loop failed", self.name)
            self.last_error = f"read failed: {exc!r}"
        finally:
            self._connected.clear()
            self.stats.mark_down()
            for book in session.books.values():
                book.synced = False  # a book that stopped receiving diffs must not be traded on
            self.state = "reconnecting" if not self._closing else "closed"
            sender.cancel()
            watchdog.cancel()
            await asyncio.gather(sender, watchdog, return_exceptions=True)
            sock.abort()
            self._sock = None

    async def _read(self, sock: Socket, session: Session) -> None:
        # The hot path, called by the transport for each message: counters, parse (which dispatches),
        # and actions only when a session asks.
        stats = self.stats
        feed = session.feed
        now_ns = time.time_ns
        handle = self._handle
        name = self.name

        def on_message(frame: str | bytes) -> None:
            now = now_ns()
            stats.messages += 1
            stats.bytes += len(frame)
            stats.last_ns = now
            try:
                feed(frame, now)
            except ParseError as exc:
                stats.parse_errors += 1
                stats.last_parse_error = str(exc)[:200]
                log.debug("feed %s skipped a frame: %s", name, exc)
            if session.actions:
                handle(session.take_actions(), session)

        try:
            await sock.serve(on_message)
        except sock.closed_errors as exc:
            raise TransportClosed(str(exc)) from exc

    def _handle(self, actions: list[Action], session: Session) -> None:
        for action in actions:
            if action.reason != "initial snapshot":
                self.stats.resyncs += 1
                self._emit("resyncing", symbol=action.symbol, reason=action.reason)
            if action.kind == "resubscribe":
                for frame in action.frames:
                    self._outbox.put_nowait(frame)
            elif action.kind == "snapshot" and action.symbol not in self._snapshots_inflight:
                self._snapshots_inflight.add(action.symbol)
                task = asyncio.get_running_loop().create_task(self._fetch_snapshot(action.symbol, session))
                self._side_tasks.add(task)
                task.add_done_callback(self._side_tasks.discard)

    async def _fetch_snapshot(self, symbol: str, session: Session) -> None:
        try:
            while self.session is session and not self._closing:
                if self.rest is None:
                    return
                try:
                    payload = await self.rest.fetch_depth(symbol)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # REST hiccups are retried
                    log.debug("depth snapshot %s %s failed: %r", self.exchange, symbol, exc)
                    await asyncio.sleep(self.settings.snapshot_retry)
                    continue
                if self.session is not session:
                    return
                try:
                    session.apply_snapshot(symbol, payload, time.time_ns())
                except ParseError as exc:
                    self.stats.parse_errors += 1
                    self.stats.last_parse_error = str(exc)[:200]
                    await asyncio.sleep(self.settings.snapshot_retry)
                    continue
                break
        finally:
            self._snapshots_inflight.discard(symbol)
        if session.actions and self.session is session:
            self._handle(session.take_actions(), session)

    def _on_resynced(self, symbol: str, reason: str) -> None:
        self._emit("resynced", symbol=symbol, reason=reason)

    async def _send_loop(self, sock: Socket) -> None:
        limit = self.adapter.limits.max_outgoing_per_second
        per_second = max(1, int(limit) - 1) if limit >= 2 else 1  # one spare for the client's pongs
        sent: collections.deque[float] = collections.deque()
        outbox = self._outbox
        while True:
            frame = await outbox.get()
            now = time.monotonic()
            while sent and now - sent[0] >= 1.0:
                sent.popleft()
            if len(sent) >= per_second:
                await asyncio.sleep(1.0 - (now - sent[0]))
                sent.popleft()
            await sock.send(frame)
            sent.append(time.monotonic())
            outbox.task_done()

    async def _watchdog(self, sock: Socket) -> None:
        settings = self.settings
        tick = min(1.0, settings.stale_after / 4)
        lifetime = self.adapter.limits.max_lifetime_s
        ping_every = self.adapter.app_ping_interval
        opened = last_ping = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            mono = time.monotonic()
            self.stats.sample_rate(time.monotonic_ns())
            age = (time.time_ns() - self.stats.last_ns) / 1e9
            if age > settings.stale_after:
                self.stats.stale += 1
                self._abort_reason = f"stale: no frame for {age:.1f} s"
                self._emit("stale", age_s=round(age, 3))
                sock.abort()
                return
            if lifetime is not None and mono - opened > lifetime:
                self._abort_reason = "planned reconnect before the venue's connection lifetime"
                sock.abort()
                return
            if ping_every is not None and mono - last_ping >= ping_every:
                frame = self.adapter.app_ping_frame()
                if frame is not None:
                    self._outbox.put_nowait(frame)
                last_ping = mono


def _sub_key(sub: Subscription) -> tuple[str, str]:
    return (sub.channel, sub.symbol)
