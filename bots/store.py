"""The engine's Django side: implements its ``OrderStore`` and ``EventSink`` ports by calling
services, and loads bots into ``BotSpec``s. The one sync/async boundary.

Writes never block the tick path: every write is queued to one writer thread that runs whatever
has accumulated as a batch inside one transaction (each job in its own savepoint, so one bad row
cannot lose the others). ``create_order`` is the exception the order path needs: it is queued the
same way (so an order's later updates can never overtake its creation) but awaited until its batch
has committed, so the row is durable before the gateway is called.

Events are published to the owner's groups from a task on the engine's loop (``bots.events``);
the ones that matter are also queued as ``BotEvent`` rows.

When the database becomes unreachable (connection lost, connections refused) the writer keeps the
batch it was writing and retries it, with backoff, until the database answers; what is queued behind
it waits in order. Meanwhile ``available`` is False (the engine pauses new entries), ``create_order``
fails at once (no row, no order), heartbeats are skipped (the next one after the outage says the
same) so the queue only grows by what trading already in flight produces.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import Max, Prefetch

from . import events
from .engine.types import BotSpec, Fill, Order
from .models import Bot, ExchangeAccount
from .models import Fill as FillRow
from .models import Order as OrderRow
from .services import engine_state
from .services import orders as order_services
from .services import positions as position_services
from .services.rows import bot_spec, core_order

log = logging.getLogger(__name__)
WRITE_RETRIES = 5  # about 1.5 s of backoff in all: a lock held by a web request is short
RECONNECT_MIN, RECONNECT_MAX = 0.2, 5.0  # seconds between attempts to reach a lost database
_STOP = object()
MAX_PENDING_PUSHES = 5000  # price pushes are dropped beyond this backlog (the page heals from its snapshot)
Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any] | None", int | None]  # ..., fenced bot id


class _WriteFailed(Exception):
    """A write failed in a batch run without savepoints: roll it back and run it write by write."""


@dataclasses.dataclass
class Loaded:
    """A bot as a host takes it up: what the engine needs, and the status saved on its row."""

    spec: BotSpec
    position: dict[str, Any] | None
    orders: list[Order]
    account: ExchangeAccount | None
    status: str
    status_reason: str
    control_seq: int


class LeaseLost(RuntimeError):
    """A fenced write refused: this worker no longer holds the bot's lease."""


class Fence(Protocol):
    """Set by a leased worker (``bots.workers``): the writer thread asks it, inside each batch's
    transaction, which bots this worker still holds; writes for the others are refused."""

    def check(self, bot_ids: set[int]) -> set[int]: ...

    def lost(self, bot_ids: set[int]) -> None: ...

    def stamp(self, bot_id: int) -> dict[str, object]: ...


class StoreUnavailable(Exception):
    """The database cannot be reached: the write was not made (an order without its row is not sent)."""


class _ConnectionLost(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


def connection_lost(exc: BaseException) -> bool:
    """A database error that means the server is gone (not a lock, not a bad row)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    raw = connection.connection
    return raw is None or bool(getattr(raw, "closed", False) or getattr(raw, "broken", False))


class DjangoStore:
    """OrderStore + EventSink for the engine, backed by the ORM through a batching writer thread."""

    def __init__(self, *, batch_max: int = 500, publish: bool = True, max_backlog: int | None = None) -> None:
        self.batch_max = batch_max
        self.max_backlog = max_backlog  # None: no bound (tests); the engine host passes the setting
        self.publish = publish
        self._jobs = _Lanes()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._outbox: asyncio.Queue[tuple[int, int, str, dict[str, Any]]] | None = None
        self._publisher: asyncio.Task[Any] | None = None
        self._bots: dict[int, tuple[int, int, bool]] = {}  # bot id -> (exchange id, market id, is paper)
        self.batches = 0
        self.written = 0
        self.dropped_prices = 0
        self.down_since: float | None = None  # monotonic time the database was lost, None while it answers
        self.outages = 0
        self.refused_orders = 0
        self.skipped_heartbeats = 0
        self.held_entries = 0  # entries refused while the write backlog was over its bound
        self.fence: Fence | None = None  # None: the only engine (no leases), nothing to check
        # Bot id -> the newest request (``Bot.control_seq``) the host applied: status writes are made
        # only over a row with no newer request (``engine_state.apply_engine_status``).
        self.applied_seq: dict[int, int] = {}

    @property
    def available(self) -> bool:
        """False while the database is unreachable (the engine pauses new entries)."""
        return self.down_since is None

    def entries_held(self) -> str | None:
        """Back-pressure: while more writes are queued than ``max_backlog`` (the database is slower
        than the bots trade), new entries are refused as a risk rejection, so the backlog and memory
        stay bounded. Exits, stops and order updates still go through."""
        queued = self._jobs.qsize()
        if self.max_backlog is not None and queued > self.max_backlog:
            self.held_entries += 1
            return f"Database writes are behind ({queued} queued): new entries wait until they catch up"
        return None

    def pending(self) -> int:
        """Writes queued and not yet committed."""
        return self._jobs.qsize()

    # Lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread and the publisher task (call on the engine's loop)."""
        self._loop = asyncio.get_running_loop()
        self._outbox = asyncio.Queue()
        self._thread = threading.Thread(target=self._writer, name="engine-writer", daemon=True)
        self._thread.start()
        if self.publish:
            self._publisher = self._loop.create_task(self._publish_loop())

    async def stop(self, timeout: float = 10.0) -> None:
        """Flush everything queued, then stop the thread and the publisher."""
        if self._outbox is not None and self._publisher is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), timeout)
            self._publisher.cancel()
        if self._thread is not None:
            self._jobs.put(_STOP)
            loop = asyncio.get_running_loop()
            while True:  # every queued write lands before the engine exits, as long as they keep landing
                before = self.pending()
                await loop.run_in_executor(None, self._thread.join, timeout)
                if not self._thread.is_alive():
                    break
                if self.down_since is None and self.pending() < before:
                    log.warning("engine stopping: %d write(s) still to land", self.pending())
                    continue
                why = "the database is unreachable" if self.down_since is not None else \
                    f"none landed in {timeout:.0f} s"
                log.error("engine stopped with %d write(s) not written: %s", self.pending(), why)
                break
            self._thread = None

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every write queued so far has committed (tests, shutdown)."""
        await asyncio.wait_for(self.written_marker(), timeout)

    def written_marker(self) -> asyncio.Future[Any]:
        """A future settled once every write queued so far has committed (wait on it as long as
        needed: writes queued after it do not delay it)."""
        return self._call(lambda: None)

    # Writer thread --------------------------------------------------------------------------------
    def _writer(self) -> None:
        try:
            while True:
                first = self._jobs.get()
                if first is _STOP:
                    return
                batch: list[Job] = [first]
                stop = False
                while len(batch) < self.batch_max:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is _STOP:
                        stop = True
                        break
                    batch.append(job)
                self._run(_coalesce(batch))
                if stop:
                    return
        finally:
            connection.close()

    def _run(self, batch: list[Job]) -> None:
        close_old_connections()
        delay = RECONNECT_MIN
        allowed: set[int] | None = None
        while True:
            try:
                results, allowed = self._commit(batch)
                break
            except _ConnectionLost as lost:
                # Nothing in the batch is durable: keep it (in order) and try again once the database
                # answers; an order's creation fails now instead, so the order is not sent.
                batch = self._refuse_orders(batch, lost.cause)
                self._lost(lost.cause)
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                with contextlib.suppress(Exception):
                    connection.close()
            except Exception as exc:  # the commit itself failed: nothing in the batch is durable
                log.exception("engine write batch of %d failed", len(batch))
                results = [(f, None, exc) for _, _, f, _ in batch]
                allowed = None
                break
        if self.down_since is not None:
            log.warning("database reachable again after %.1f s; queued writes landing in order (%d still queued)",
                        time.monotonic() - self.down_since, self.pending())
            self.down_since = None
        if allowed is not None and self.fence is not None:
            lost_bots = {bot for _, _, _, bot in batch if bot is not None and bot not in allowed}
            if lost_bots:
                self.fence.lost(lost_bots)
        loop = self._loop
        for future, result, error in results:
            if future is not None and loop is not None:
                loop.call_soon_threadsafe(_settle, future, result, error)

    def _commit(self, batch: list[Job]
                ) -> tuple[list[tuple[asyncio.Future[Any] | None, Any, BaseException | None]], set[int] | None]:
        """One transaction for the batch; a leased worker's writes for bots it lost are refused in it.
        The writes run straight in the transaction; only if one fails is the batch rolled back and
        run again with a savepoint around each write, so that the failure costs that write alone
        (a savepoint per write is two more round trips each, the writer's main cost under load)."""
        try:
            return self._commit_once(batch, isolate=False)
        except _WriteFailed:
            return self._commit_once(batch, isolate=True)

    def _commit_once(self, batch: list[Job], *, isolate: bool
                     ) -> tuple[list[tuple[asyncio.Future[Any] | None, Any, BaseException | None]], set[int] | None]:
        results: list[tuple[asyncio.Future[Any] | None, Any, BaseException | None]] = []
        try:
            with transaction.atomic():
                allowed = self._fenced(batch)
                for fn, args, future, bot in batch:
                    if allowed is not None and bot is not None and bot not in allowed:
                        results.append((future, None, LeaseLost(f"bot {bot}: lease lost, write refused")))
                    elif isolate:
                        results.append(self._apply(fn, args, future))
                    else:
                        results.append((future, self._apply_direct(fn, args), None))
        except _WriteFailed:
            raise
        except Exception as exc:
            if connection_lost(exc):
                raise _ConnectionLost(exc) from exc
            raise
        self.batches += 1
        self.written += len(batch)
        return results, allowed

    @staticmethod
    def _apply_direct(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        try:
            return fn(*args)
        except (InterfaceError, OperationalError) as exc:
            if connection_lost(exc) or isinstance(exc, InterfaceError):
                raise
            raise _WriteFailed from exc
        except Exception as exc:
            raise _WriteFailed from exc

    def _refuse_orders(self, batch: list[Job], cause: BaseException) -> list[Job]:
        """Fail the order creations of a batch the database did not take; keep the rest."""
        kept: list[Job] = []
        for job in batch:
            fn, _, future, _ = job
            if fn is order_services.create_order and future is not None and self._loop is not None:
                self.refused_orders += 1
                self._loop.call_soon_threadsafe(_settle, future, None, StoreUnavailable(repr(cause)[:200]))
            else:
                kept.append(job)
        return kept

    def _lost(self, cause: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.outages += 1
            log.error("database unreachable (%r): new orders refused, %d write(s) queued and retried until it "
                      "returns", cause, self.pending() + 1)
        else:
            log.info("database still unreachable after %.1f s; %d write(s) queued",
                     time.monotonic() - self.down_since, self.pending() + 1)
    def _fenced(self, batch: list[Job]) -> set[int] | None:
        """The batch's bots still leased to this worker (their lease rows locked until commit)."""
        fence = self.fence
        bots = {bot for _, _, _, bot in batch if bot is not None}
        return fence.check(bots) if fence is not None and bots else None

    def _apply(self, fn: Callable[..., Any], args: tuple[Any, ...], future: asyncio.Future[Any] | None
               ) -> tuple[asyncio.Future[Any] | None, Any, BaseException | None]:
        """One write in its own savepoint. A locked table (SQLite) is transient: retried with
        backoff rather than losing the write; a lost connection fails the whole batch (which is
        retried); any other error fails only this row, never the batch."""
        for attempt in range(WRITE_RETRIES + 1):
            try:
                with transaction.atomic():
                    return future, fn(*args), None
            except OperationalError as exc:
                if connection_lost(exc):
                    raise
                if attempt == WRITE_RETRIES:
                    log.exception("engine write %s failed after %d tries", getattr(fn, "__name__", fn), attempt + 1)
                    return future, None, exc
                time.sleep(0.05 * 2**attempt)
            except InterfaceError:
                raise
            except Exception as exc:
                log.exception("engine write %s failed", getattr(fn, "__name__", fn))
                return future, None, exc
        raise AssertionError("unreachable")

    def _put(self, fn: Callable[..., Any], *args: Any, bot: int | None = None) -> None:
        self._jobs.put((fn, args, None, bot))

    def _call(self, fn: Callable[..., Any], *args: Any, bot: int | None = None,
              urgent: bool = False) -> asyncio.Future[Any]:
        assert self._loop is not None, "store not started"
        future: asyncio.Future[Any] = self._loop.create_future()
        self._jobs.put((fn, args, future, bot), urgent=urgent or fn is order_services.create_order)
        return future

    # OrderStore -----------------------------------------------------------------------------------
    async def create_order(self, order: Order) -> None:
        """Durable: returns once the pending_submit row has committed. Raises ``StoreUnavailable`` at
        once while the database is unreachable (the engine then does not send the order)."""
        if self.down_since is not None:
            self.refused_orders += 1
            raise StoreUnavailable("database unreachable: the order was not recorded")
        is_paper = self._bots.get(order.bot_id, (0, 0, True))[2]
        stamp = self.fence.stamp(order.bot_id) if self.fence is not None else None
        await self._call(order_services.create_order, dataclasses.replace(order), is_paper, stamp, bot=order.bot_id)

    def update_order(self, order: Order, note: str = "") -> None:
        self._put(order_services.update_order, dataclasses.replace(order, fill_ids=set()), note, bot=order.bot_id)

    def record_fill(self, order: Order, fill: Fill) -> None:
        exchange_id = self._bots.get(order.bot_id, (0, 0, True))[0]
        self._put(order_services.record_fill, order.client_order_id, fill, exchange_id, bot=order.bot_id)

    def save_position(self, bot_id: int, position: dict[str, Any]) -> None:
        market_id = self._bots.get(bot_id, (0, 0, True))[1]
        self._put(position_services.save_position, bot_id, market_id, dict(position), bot=bot_id)

    def set_status(self, bot_id: int, status: str, reason: str = "") -> None:
        self._put(engine_state.apply_engine_status, bot_id, status, reason, self.applied_seq.get(bot_id), bot=bot_id)

    def heartbeat(self, bot_ids: list[int], at: datetime) -> None:
        if self.down_since is not None:  # the first heartbeat after the outage says the same
            self.skipped_heartbeats += 1
            return
        self._put(engine_state.touch_heartbeats, list(bot_ids), at)

    # EventSink ------------------------------------------------------------------------------------
    def emit(self, spec: BotSpec, kind: str, data: dict[str, Any], *, persist: bool = False) -> None:
        """Publish to the owner's groups (on the loop) and, if ``persist``, queue a ``BotEvent``."""
        if self._outbox is not None and self.publish:
            if kind == "price" and self._outbox.qsize() > MAX_PENDING_PUSHES:
                self.dropped_prices += 1  # a slow layer costs price pushes, never the tick path
            else:
                self._outbox.put_nowait((spec.owner_id, spec.id, kind, data))
        if persist and kind != "price":
            self._put(engine_state.record_engine_events, [(spec.id, kind, dict(data))])

    async def _publish_loop(self) -> None:
        assert self._outbox is not None
        while True:
            owner_id, bot_id, kind, data = await self._outbox.get()
            try:
                await events.apublish_engine_event(owner_id, bot_id, kind, data)
            except Exception:
                log.debug("publish failed", exc_info=True)
            finally:
                self._outbox.task_done()

    # Loading --------------------------------------------------------------------------------------
    async def aload(self, bot_id: int) -> tuple[BotSpec, dict[str, Any] | None, list[Order], ExchangeAccount | None]:
        """``load`` run in the writer thread: the engine's reads and writes never contend."""
        return await self._call(self.load, bot_id)

    async def aload_many(self, bot_ids: list[int]) -> dict[int, Loaded]:
        """``load_many`` run in the writer thread, ahead of queued writes: the bots it loads are being
        taken up, so none of this worker's queued writes are theirs (a hand-over flushes before it
        releases a lease, and a lost bot's writes are refused by the fence)."""
        return await self._call(self.load_many, list(bot_ids), urgent=True)  # type: ignore[no-any-return]

    async def arun(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a sync ORM read in the writer thread and return its result."""
        return await self._call(fn, *args)

    def load(self, bot_id: int) -> tuple[BotSpec, dict[str, Any] | None, list[Order], ExchangeAccount | None]:
        """A bot's spec, its position in the engine's durable form, its open orders, its account."""
        loaded = self.load_many([bot_id]).get(bot_id)
        if loaded is None:
            raise Bot.DoesNotExist(f"bot {bot_id}")
        return loaded.spec, loaded.position, loaded.orders, loaded.account

    def load_many(self, bot_ids: list[int]) -> dict[int, Loaded]:
        """``load`` for many bots at once, with each one's saved status: five queries whatever their
        number (a worker taking over hundreds of bots reads them in a few batches, not one by one)."""
        bots = list(Bot.objects.select_related("market", "exchange", "account").filter(pk__in=bot_ids))
        ids = [bot.id for bot in bots]
        positions = position_services.engine_positions({bot.id: bot.market_id for bot in bots})
        last = dict(OrderRow.objects.filter(bot_id__in=ids).order_by().values("bot_id")
                    .annotate(last=Max("created_at")).values_list("bot_id", "last"))
        open_rows: dict[int, list[OrderRow]] = {}
        for row in OrderRow.objects.filter(bot_id__in=ids).open().prefetch_related(
                Prefetch("fills", queryset=FillRow.objects.only("id", "order_id", "trade_id"))):
            open_rows.setdefault(row.bot_id, []).append(row)
        out: dict[int, Loaded] = {}
        for bot in bots:
            spec = bot_spec(bot)
            self._bots[bot.id] = (bot.exchange_id, bot.market_id, bot.mode == "paper")
            position = positions.get(bot.id)
            if last.get(bot.id) is not None:
                position = {**(position or {"quantity": "0"}), "last_order_at": last[bot.id]}
            orders = [core_order(row, spec.instrument) for row in open_rows.get(bot.id, ())]
            out[bot.id] = Loaded(spec, position, orders, bot.account if bot.mode == "live" else None,
                                 bot.status, bot.status_reason, bot.control_seq)
        return out


class _Lanes:
    """The writer's queue: first in, first out, except that an order's creation (the order path
    waits on it before sending) and the bulk load of bots being taken up go ahead of the position,
    event and status writes queued before them. Neither needs any of those: the order's row is new
    (its later updates queue behind it), and the bots being loaded have no writes queued here."""

    def __init__(self) -> None:
        self._urgent: collections.deque[Any] = collections.deque()
        self._normal: collections.deque[Any] = collections.deque()
        self._ready = threading.Condition(threading.Lock())

    def put(self, job: Any, *, urgent: bool = False) -> None:
        with self._ready:
            (self._urgent if urgent else self._normal).append(job)
            self._ready.notify()

    def get(self) -> Any:
        with self._ready:
            while not (self._urgent or self._normal):
                self._ready.wait()
            return (self._urgent or self._normal).popleft()

    def get_nowait(self) -> Any:
        with self._ready:
            if not (self._urgent or self._normal):
                raise queue.Empty
            return (self._urgent or self._normal).popleft()

    def qsize(self) -> int:
        return len(self._urgent) + len(self._normal)


def _coalesce(batch: list[Job]) -> list[Job]:
    """Drop position snapshots that a later one in the same batch supersedes: the same bot, the same
    position (opened at the same time), and the earlier one not a close (a close ends a row, so it is
    always written). The engine saves its position on every fill; under load a batch holds several."""
    batch = _merge_events(batch)
    latest: dict[Any, int] = {}
    for at, (fn, _, future, _bot) in enumerate(batch):
        if fn is position_services.save_position and future is None:
            latest[_snapshot_key(batch[at])] = at
    if len(latest) == sum(1 for fn, *_ in batch if fn is position_services.save_position):
        return batch
    kept: list[Job] = []
    for at, job in enumerate(batch):
        fn, args, future, _bot = job
        if (fn is position_services.save_position and future is None and latest[_snapshot_key(job)] != at
                and Decimal(str(args[2].get("quantity") or 0)) > 0):
            continue
        kept.append(job)
    return kept


def _merge_events(batch: list[Job]) -> list[Job]:
    """Every queued ``BotEvent`` append of the batch in one insert, where the first one was."""
    rows: list[tuple[int, str, dict[str, Any]]] = []
    merged: list[Job] = []
    for job in batch:
        fn, args, future, bot = job
        if fn is engine_state.record_engine_events and future is None:
            if not rows:
                merged.append((fn, (rows,), None, bot))
            rows.extend(args[0])
        else:
            merged.append(job)
    return merged


def _snapshot_key(job: Job) -> Any:
    bot_id, market_id, data = job[1]
    return (bot_id, market_id, str(data.get("opened_at")))


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)



class StoreCollector:
    """The writer's health for the engine's ``/metrics`` (a database outage shows here while it lasts)."""

    def __init__(self, store: DjangoStore) -> None:
        self.store = store

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        store = self.store
        yield GaugeMetricFamily("engine_database_unreachable", "1 while the engine cannot reach its database",
                                value=0 if store.available else 1)
        yield GaugeMetricFamily("engine_queued_writes", "Engine writes queued, not yet committed",
                                value=store.pending())
        yield CounterMetricFamily("engine_database_outages", "Times the database became unreachable",
                                  value=store.outages)
        yield CounterMetricFamily("engine_orders_refused_unrecorded",
                                  "Orders not sent because their row could not be written", value=store.refused_orders)
        yield CounterMetricFamily("engine_entries_held_for_writes",
                                  "New entries refused while the write backlog was over ENGINE_MAX_WRITE_BACKLOG",
                                  value=store.held_entries)
