"""A leased engine worker: the ``EngineHost`` hosts exactly the bots whose lease it holds.

Every ``interval`` seconds a round (``bots.services.leases.plan_bots``, on this worker's own DB
thread so that renewals never queue behind a write batch) beats, renews, claims and rebalances:

* bots whose lease is gone (this worker was paused or cut off past the expiry and another took
  them) are dropped at once: nothing is written for them (the store's fence refuses it) and the
  log says why;
* claimed bots are loaded from the database (position, open orders, desired status: a stop or
  pause sent while the bot moved is in its row) and their ``unknown`` orders are reconciled first;
* bots over the fair share are handed over a few per round: detach here (in-flight sends finish,
  writes flushed), release the lease, and the least-loaded worker claims them on its next round.

When the database is unreachable for longer than the lease duration (``keepalive lapsed``, on this
worker's own clock), its leases could have been claimed by another worker. When it answers again the
worker's first act is ``reclaim``: in one transaction, the bots still leased to it under the token it
held (nobody claimed them in between) get a new fencing token and their lapsed tenure ends where the
new one starts; the bots another worker claimed are dropped here. The writes queued during the outage
then land under the new tokens (for the bots kept) or are refused by the fence (for the bots lost,
whose new holder loads them from the database and reconciles their orders with the venue).

Control messages come on this worker's own channel (``Worker.control_channel``; the web routes a
bot's messages to its lease holder) and on the shared channel (bots nobody hosts yet). On SIGTERM
the worker marks itself stopping (the others stop counting it), hands every bot over and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from cluster import leases as cluster_leases
from cluster.models import WorkerRole

from .services import leases

log = logging.getLogger(__name__)
FLUSH_WARN = 10.0  # seconds between warnings while a hand-over waits for the writer
SHUTDOWN_FLUSH = 20.0  # at most this long on SIGTERM; then the leases are left to run out


class EngineHost(Protocol):
    """What a worker needs of ``bots.engine_host.EngineHost`` (not imported: it imports us)."""

    engine: Any
    store: Any


    async def start_bots(self, bot_ids: list[int]) -> set[int]: ...

    async def control(self, message: Mapping[str, Any]) -> None: ...


@dataclass
class LeaseSettings:
    """Timings (seconds) and bounds. A dead worker's bots resume within ``duration + interval``
    (plus their start) of its last renewal."""

    duration: float = 5.0
    interval: float = 1.0
    max_claims: int = 200  # per round
    max_moves: int = 25  # bots handed over per round when over the fair share

    @classmethod
    def from_settings(cls) -> LeaseSettings:
        return cls(duration=settings.ENGINE_LEASE_SECONDS, interval=settings.ENGINE_LEASE_INTERVAL,
                   max_moves=settings.ENGINE_REBALANCE_MOVES)


def worker_identity(role: str = WorkerRole.ENGINE) -> str:
    """``<host>-<pid>-<random>``: unique even when a pid is reused."""
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:40]
    return f"{role}-{host}-{os.getpid()}-{secrets.token_hex(2)}"


class DbThread:
    """One thread (and so one DB connection) for a process's lease bookkeeping."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(_fresh, fn, *args, **kw))

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, _close_connection)
        self._pool.shutdown(wait=False)


def _fresh(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    close_old_connections()  # a dropped or too-old connection is replaced, not fatal
    return fn(*args, **kw)


class LeaseFence:
    """The store's fence: the bots this worker holds and their tokens (``bots.store.Fence``)."""

    def __init__(self, worker_id: str, on_lost: Callable[[set[int]], None]) -> None:
        self.worker_id = worker_id
        self.tokens: dict[int, int] = {}  # written on the loop, read by the writer thread
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()

    def check(self, bot_ids: set[int]) -> set[int]:
        tokens = {b: t for b in bot_ids if (t := self.tokens.get(b)) is not None}
        # The next token held by this worker is ours too: a re-claim after a lapse (``reclaim``) may
        # commit between the writer's read of ``tokens`` and its check; nobody held the lease between.
        return leases.fenced_bots(self.worker_id, tokens, set(tokens)) if tokens else set()

    def lost(self, bot_ids: set[int]) -> None:
        self._loop.call_soon_threadsafe(self._on_lost, bot_ids)

    def stamp(self, bot_id: int) -> dict[str, object]:
        """Who writes an order row, under which token (kept on its ``created`` event)."""
        return {"worker": self.worker_id, "token": self.tokens.get(bot_id)}


class EngineWorker:
    """Leases, placement and routed control for one ``EngineHost``."""

    def __init__(self, host: EngineHost, lease: LeaseSettings | None = None, identity: str | None = None) -> None:
        self.host = host
        self.lease = lease or LeaseSettings.from_settings()
        self.id = identity or worker_identity()
        self.channel = f"{settings.ENGINE_CONTROL_CHANNEL}.{self.id}"[:99]
        self.db = DbThread("engine-lease")
        self.fence: LeaseFence | None = None
        self.stopping = False
        self.moves = 0
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._round_lock = asyncio.Lock()
        self._reclaim_lock = asyncio.Lock()
        self._renewed_at: float | None = None  # loop time a successful keepalive began (None: never)
        self._db_down_since: float | None = None  # loop time the lease thread lost the database
        self.reclaims = 0  # keepalives that lapsed and were re-claimed
        # Control messages for bots claimed but still loading: applied once they run. (Messages
        # sent before the claim went elsewhere, but their status change is in the row we load.)
        self._pending: dict[int, list[Mapping[str, Any]]] = {}

    @property
    def engine(self) -> Any:
        return self.host.engine

    async def start(self) -> int:
        """Register, claim a first share of the bots and start the rounds. Returns bots hosted."""
        self.fence = LeaseFence(self.id, self._lost)
        self.host.store.fence = self.fence
        began = asyncio.get_running_loop().time()
        await self.db(cluster_leases.register_worker, self.id, WorkerRole.ENGINE, socket.gethostname(),
                      os.getpid(), self.channel, self.lease.duration)
        self._renewed_at = began
        reaped = await self.db(cluster_leases.reap_dead_local_workers, socket.gethostname())
        if reaped:
            log.info("worker %s: expired the leases of dead local workers %s", self.id, reaped)
        self._tasks.append(asyncio.create_task(self._renewals()))  # before the first (long) round
        await self.round()
        self._tasks.append(asyncio.create_task(self._rounds()))
        log.info("worker %s started: %d bot(s), control channel %s", self.id, len(self.engine.bots), self.channel)
        return len(self.engine.bots)

    async def _rounds(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.lease.interval)
            self._wake.clear()
            try:
                await self.round()
            except Exception as exc:
                self._failed("lease round", exc)

    async def _renewals(self) -> None:
        """Renew on a clock of its own: a round busy starting many bots must not let leases lapse."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.lease.interval
            await asyncio.sleep(self.lease.interval)
            started = loop.time()
            try:
                if not await self._reclaim_if_lapsed():
                    await self.db(leases.renew_bots, self.id, self.lease.duration)
                    self._renewed(started)
            except Exception as exc:
                self._failed("lease renewal", exc)
                continue
            late, took = started - due, loop.time() - started
            if late + took > self.lease.duration / 2:  # the leases are at risk: say why
                log.warning("worker %s: lease renewal %.1f s late (loop busy) and took %.1f s (database)",
                            self.id, late, took)

    async def round(self) -> None:
        """One beat-renew-claim-rebalance round."""
        async with self._round_lock:
            assert self.fence is not None
            await self._reclaim_if_lapsed()  # before plan_bots' beat would renew the lapsed keepalive
            began = asyncio.get_running_loop().time()
            plan = await self.db(leases.plan_bots, self.id, duration=self.lease.duration,
                                 max_claims=self.lease.max_claims, max_moves=self.lease.max_moves,
                                 claim=not self.stopping)
            self._renewed(began)
            gone = [b for b in self.fence.tokens if b not in plan.held]
            if gone:
                await self._drop(gone, "its lease expired and another worker claimed it")
            for bot_id in plan.unwanted:  # stopped (or failed) in the database while moving or here
                if bot_id in self.engine.bots:
                    if bot_id in plan.requests:  # the stop is the request answered by "stopped"
                        self._applied(bot_id, plan.requests[bot_id][1])
                    await self.engine.stop_bot(bot_id, "Stopped by request")
            # Claimed now, or held but not started (a round that failed half way): start them, read
            # from the database in batches (``EngineHost.start_bots``).
            skip = {*plan.hand_over, *plan.unwanted}
            start = {b: t for b, t in plan.held.items() if b not in self.fence.tokens and b not in skip}
            self.fence.tokens.update(start)
            began = asyncio.get_running_loop().time()
            started = await self.host.start_bots(sorted(start)) if start else set()
            for bot_id in sorted(start):
                if bot_id not in started:
                    log.info("worker %s: bot %s did not start", self.id, bot_id)
                for message in self._pending.pop(bot_id, []):  # arrived while it was loading
                    await self.host.control(message)
            if start:
                await self.engine.reconcile()  # orders a dead worker left ``unknown`` are settled first
                log.info("worker %s: took up %d bot(s) in %.1f s", self.id, len(start),
                         asyncio.get_running_loop().time() - began)
            self._apply_requests(plan.requests)
            if plan.hand_over:
                await self._hand_over(plan.hand_over, "handed over (rebalancing)")
                self.moves += len(plan.hand_over)
                log.info("worker %s: handed %d bot(s) over (fair share %d over %d workers)", self.id,
                         len(plan.hand_over), plan.target, plan.live_workers)
            idle = {b: t for b, t in self.fence.tokens.items() if b not in self.engine.bots}
            if idle:  # stopped here (by request or an error): let the lease go
                await self._writes_landed("stopped bots")
                for b in idle:
                    self.fence.tokens.pop(b, None)
                await self.db(leases.release_bots, self.id, idle, "stopped")

    # Keepalive -------------------------------------------------------------------------------------
    def lapsed(self) -> bool:
        """True when no keepalive has succeeded within the lease duration: the leases may have
        expired in the database (another worker could claim them)."""
        return (self._renewed_at is not None
                and asyncio.get_running_loop().time() - self._renewed_at > self.lease.duration)

    def _renewed(self, began: float) -> None:
        """A keepalive that began at ``began`` (loop time) succeeded."""
        if self._renewed_at is None or began > self._renewed_at:
            self._renewed_at = began
        if self._db_down_since is not None:
            log.warning("worker %s: database reachable again after %.1f s; leases renewed", self.id,
                        asyncio.get_running_loop().time() - self._db_down_since)
            self._db_down_since = None

    def _failed(self, what: str, exc: Exception) -> None:
        """A lease call failed: an unreachable database is one warning (the outage), else a traceback."""
        if not isinstance(exc, (OperationalError, InterfaceError)):
            log.error("worker %s: %s failed", self.id, what, exc_info=exc)
            return
        if self._db_down_since is None:
            self._db_down_since = asyncio.get_running_loop().time()
            log.warning("worker %s: database unreachable (%s: %r); leases not renewed (they lapse %.0f s after the "
                        "last keepalive)", self.id, what, str(exc).splitlines()[0][:160], self.lease.duration)

    async def _reclaim_if_lapsed(self) -> bool:
        """If the keepalive lapsed: take new tokens for the bots still ours and drop the others
        (``cluster.leases.reclaim``). True if it did (it renewed the keepalive too)."""
        async with self._reclaim_lock:
            if not self.lapsed() or self.fence is None:
                return False
            loop = asyncio.get_running_loop()
            began = loop.time()
            lapsed_for = began - (self._renewed_at or began) - self.lease.duration
            held = dict(self.fence.tokens)
            kept = await self.db(leases.reclaim_bots, self.id, held, self.lease.duration)
            for bot_id, token in kept.items():
                if self.fence.tokens.get(bot_id) == held[bot_id]:  # not dropped or re-started meanwhile
                    self.fence.tokens[bot_id] = token
            self.reclaims += 1
            self._renewed(began)
            renewed = sum(1 for b, t in kept.items() if t != held[b])
            log.warning("worker %s: keepalive had lapsed (%.1f s past the lease duration); re-claimed %d of %d "
                        "bot(s) under new fencing tokens", self.id, max(0.0, lapsed_for), renewed, len(held))
            gone = [b for b in held if b not in kept]
            if gone:
                await self._drop(gone, "its lease lapsed while this worker was cut off and another worker claimed it")
            return True

    def _applied(self, bot_id: int, seq: int) -> None:
        applied = self.host.store.applied_seq
        applied[bot_id] = max(seq, applied.get(bot_id, 0))

    def _apply_requests(self, requests: dict[int, tuple[str, int]]) -> None:
        """Pause and resume requests found in the database (the truth; a message may be lost). The
        round read them before it got here: one older than a request applied meanwhile (its message
        came in while the round waited for the database) is stale; one already applied is confirmed."""
        store = self.host.store
        for bot_id, (status, seq) in requests.items():
            runner = self.engine.bots.get(bot_id)
            if runner is None:
                continue
            applied = store.applied_seq.get(bot_id, 0)
            if seq < applied:
                continue
            if seq == applied:  # applied (by its message, or read at load): say so in the row
                reason = runner.status_reason
                if reason.startswith(leases.REQUESTED):
                    reason = "Paused by request" if runner.status == "paused" else ""
                store.set_status(bot_id, runner.status, reason)
                continue
            self._applied(bot_id, seq)
            if status == "paused":
                if runner.status == "running":
                    self.engine.pause_bot(bot_id, "Paused by request")
                else:  # it was loaded paused (the request was in its row): confirm, as the engine would
                    self.host.store.set_status(bot_id, runner.status, "Paused by request")
            elif status == "starting":
                if runner.status == "paused":
                    self.engine.resume_bot(bot_id)
                else:  # already running here: confirm it, so the request is not seen again
                    self.host.store.set_status(bot_id, runner.status, "")

    async def _drop(self, bot_ids: list[int], why: str) -> None:
        """Stop hosting bots whose lease is lost, without writing anything for them."""
        assert self.fence is not None
        for bot_id in bot_ids:
            token = self.fence.tokens.pop(bot_id, None)
            if await self.engine.detach_bot(bot_id) is not None or token is not None:
                log.warning("worker %s: no longer hosting bot %s (token %s): %s", self.id, bot_id, token, why)

    def _lost(self, bot_ids: set[int]) -> None:
        """The store refused a write: the lease is gone (noticed between two rounds)."""
        if self.fence is None:
            return
        lost = [b for b in bot_ids if b in self.fence.tokens]
        if lost:
            self._tasks.append(asyncio.create_task(self._drop(lost, "a write was refused by its fencing token")))

    async def _writes_landed(self, what: str, limit: float | None = None) -> bool:
        """Wait until every write queued so far has committed (a lease is released only then: a
        write that lands after it would be refused by the fence, and lost). A writer far behind (a
        busy machine, a slow database) is waited for, with a warning every ``FLUSH_WARN`` seconds,
        not taken for a failure; ``limit`` bounds the wait (False when it ran out)."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        landed = self.host.store.written_marker()  # one mark: later writes must not push it back
        while True:
            step = FLUSH_WARN if limit is None else max(0.1, min(FLUSH_WARN, began + limit - loop.time()))
            try:
                await asyncio.wait_for(asyncio.shield(landed), step)
                return True
            except TimeoutError:
                waited = loop.time() - began
                log.warning("worker %s: %s wait for %d queued write(s) to land (%.0f s so far)", self.id, what,
                            self.host.store.pending(), waited)
                if limit is not None and waited >= limit:
                    return False

    async def _hand_over(self, bot_ids: list[int], reason: str, limit: float | None = None) -> bool:
        """Clean stop here (status and orders untouched), writes landed, then the lease released.
        False when the writes did not land within ``limit`` (nothing released)."""
        assert self.fence is not None
        # At once, not one after the other: each waits for its in-flight sends, whose order rows
        # wait in the writer's queue (seconds when it is far behind).
        await asyncio.gather(*(self.engine.detach_bot(bot_id) for bot_id in bot_ids))
        if not await self._writes_landed(f"{len(bot_ids)} bot(s) handed over", limit):
            # Not released: the leases run out instead and the writes queued meanwhile still land
            # under them (the host's own stop flushes them).
            log.warning("worker %s: %d bot(s) not released: their writes have not landed", self.id, len(bot_ids))
            return False
        tokens = {b: self.fence.tokens.pop(b) for b in bot_ids if b in self.fence.tokens}
        if tokens:
            await self.db(leases.release_bots, self.id, tokens, reason)
        return True

    # Control ------------------------------------------------------------------------------------------
    async def control(self, message: Mapping[str, Any]) -> None:
        """A hosted bot's message goes to the host; a start for a bot nobody hosts wakes a round
        (the least-loaded worker claims it); stop and pause for a bot not here are already in its row."""
        bot_id = int(message.get("bot_id", 0))
        log.debug("worker %s: %s for bot %s", self.id, message.get("action"), bot_id)
        if bot_id in self.engine.bots or message.get("action") == "limits":
            await self.host.control(message)
        elif self.fence is not None and bot_id in self.fence.tokens:
            self._pending.setdefault(bot_id, []).append(message)
        elif message.get("action") in ("start", "resume", "reload", "close"):
            self._wake.set()  # the least-loaded worker claims it; its row says what was asked

    async def listen(self) -> None:
        """Take control messages from this worker's channel and the shared one until cancelled."""
        try:
            await asyncio.gather(self._listen(self.channel), self._listen(settings.ENGINE_CONTROL_CHANNEL))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker %s: control listener stopped", self.id)
            raise

    async def _listen(self, channel: str) -> None:
        layer = get_channel_layer()
        failures = 0
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # channels-redis' blocking pop can time out on an idle channel (redis-py's socket
                # timeout); the message, if any, stays in its backup queue: just receive again. Repeated
                # failures are an outage: bots keep trading and every round applies their saved statuses.
                failures += 1
                if failures == 3:
                    log.warning("worker %s: engine control channel unreachable (%r); bots keep trading, saved "
                                "statuses are applied every round until it returns", self.id, exc)
                else:
                    log.debug("worker %s: receive on %s: %r", self.id, channel, exc)
                await asyncio.sleep(0.1 if failures < 3 else 1.0)
                continue
            if failures >= 3:
                log.warning("worker %s: engine control channel back", self.id)
            failures = 0
            try:
                await self.control(message)
            except Exception:
                log.exception("worker %s: control %r failed", self.id, message)

    # Shutdown ---------------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Hand every bot over (others stop counting this worker first), then retire."""
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        async with self._round_lock:
            with contextlib.suppress(Exception):
                await self.db(cluster_leases.beat_worker, self.id, stopping=True, duration=self.lease.duration)
            released = True
            if self.fence is not None and self.fence.tokens:
                count = len(self.fence.tokens)
                released = await self._hand_over(list(self.fence.tokens), "handed over (shutdown)", SHUTDOWN_FLUSH)
                if released:
                    log.info("worker %s: handed %d bot(s) over before exit", self.id, count)
            if released:  # else the keepalive runs out as usual while the host's stop flushes the rest
                with contextlib.suppress(Exception):
                    await self.db(cluster_leases.retire_worker, self.id)
        await self.db.close()


def _close_connection() -> None:
    connection.close()  # resolved in the DB thread: the connection proxy is per thread
