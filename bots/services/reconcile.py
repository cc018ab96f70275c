"""Order reconciliation: bring every non-final order to the exchange's truth, batch by batch.

A batch is one (account, symbol) for live orders (one ``openOrders`` request, a targeted query per
order the venue no longer lists as open, and ``myTrades`` only where fills are unrecorded; see
``reconcile_fetch``) or one (bot, symbol) for paper orders. Each batch runs under one lock per
account (PostgreSQL advisory lock; a second reconciler skips a busy account), the venue is asked
outside any transaction, and the plan is applied in a short one (``reconcile_apply``). Venue errors
are retried in the run, then the order waits with an exponential backoff; they never count as
"not found".
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from bots.engine.types import UNCONFIRMED_STATUSES
from bots.reconcile.plan import Known, plan_batch
from bots.reconcile.types import ZERO, BatchTruth, LocalOrder

from ..models import Bot, BotMode, ExchangeAccount, Fill, Order, OrderEvent, OrderStatus
from .reconcile_apply import Applied, apply_plan
from .reconcile_fetch import Batch, ClientFactory, client_factory, default_client, fetch_all, fetch_truth
from .reconcile_positions import check_positions

__all__ = ["Batch", "ReconcileReport", "client_factory", "collect_batches", "default_client", "fetch_truth",
           "reconcile_orders", "scope_lock"]
log = logging.getLogger(__name__)
LOCK_NAMESPACE = 0x5EC0  # first key of the two-int advisory lock: "reconcile"
_local_locks: dict[str, threading.Lock] = {}


@dataclass(slots=True)
class ReconcileReport:
    """What one pass did (also the Celery task's small return value)."""

    batches: int = 0
    orders: int = 0
    changed: int = 0
    fills: int = 0
    findings: int = 0
    unreachable: int = 0
    skipped_locked: int = 0
    skipped_busy: int = 0
    requests: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, applied: Applied) -> None:
        self.changed += applied.changed
        self.fills += applied.fills
        self.findings += applied.findings
        self.unreachable += applied.unreachable
        self.skipped_locked += applied.skipped_locked

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


# -- choosing what to reconcile ------------------------------------------------------------------------
def _backing_off(order_ids: list[int], now: datetime) -> set[int]:
    """Orders whose last query went unanswered too recently: wait 2^n x base seconds (capped)."""
    if not order_ids:
        return set()
    base, cap = settings.RECONCILE_BACKOFF_BASE_SECONDS, settings.RECONCILE_BACKOFF_MAX_SECONDS
    latest: dict[int, tuple[datetime, dict]] = {}
    for order_id, at, data in (OrderEvent.objects.filter(order_id__in=order_ids)
                               .order_by("order_id", "-time", "-id").values_list("order_id", "time", "data")):
        latest.setdefault(order_id, (at, data or {}))
    out = set()
    for order_id, (at, data) in latest.items():
        attempt = int(data.get("reconcile_attempt", 0)) if isinstance(data, dict) else 0
        if attempt and now < at + timedelta(seconds=min(cap, base * 2 ** (attempt - 1))):
            out.add(order_id)
    return out


def collect_batches(now: datetime, *, account_ids: list[int] | None = None,
                    bot_ids: list[int] | None = None) -> list[Batch]:
    """Every non-final order due for a check, grouped; plus each active live bot's (account, symbol),
    so an orphan order is found even where we have no open order."""
    grace = timedelta(seconds=settings.RECONCILE_GRACE_SECONDS)
    due = Order.objects.open().filter(~Q(status=OrderStatus.PENDING_SUBMIT) | Q(created_at__lt=now - grace))
    # A paper order the engine holds (open, partially filled) lives on its in-process book.
    due = due.filter(Q(is_paper=False, bot__account__isnull=False) | Q(is_paper=True, status__in=UNCONFIRMED_STATUSES))
    bots = Bot.objects.active().filter(mode=BotMode.LIVE, account__isnull=False)
    if account_ids is not None:
        due, bots = due.filter(bot__account_id__in=account_ids), bots.filter(account_id__in=account_ids)
    if bot_ids is not None:
        due, bots = due.filter(bot_id__in=bot_ids), bots.filter(pk__in=bot_ids)
    rows = list(due.values("id", "client_order_id", "exchange_order_id", "status", "quantity",
                           "created_at", "updated_at", "is_paper", "bot_id", "bot__owner_id", "bot__account_id",
                           "bot__market__symbol", "bot__market__native_symbol", "bot__exchange__code",
                           "bot__exchange__protocol", "bot__exchange__rest_url"))
    waiting = _backing_off([r["id"] for r in rows if r["status"] in UNCONFIRMED_STATUSES], now)
    # what our fills prove filled (not the row's figure): the venue reporting more means fills to fetch;
    # summed in Python, as amounts are exact text on SQLite
    recorded: dict[int, Decimal] = {}
    for order_id, qty in Fill.objects.filter(order__in=due.values("id")).values_list("order_id", "quantity"):
        recorded[order_id] = recorded.get(order_id, ZERO) + qty
    batches: dict[str, Batch] = {}

    def batch_for(paper: bool, r: dict[str, Any], prefix: str = "bot__") -> Batch:
        scope = f"bot:{r['bot_id']}" if paper else f"acct:{r[prefix + 'account_id']}"
        key = f"{scope}|{r[prefix + 'market__symbol']}"
        if key not in batches:
            batches[key] = Batch(scope, r[prefix + "owner_id"], None if paper else r[prefix + "account_id"],
                                 r["bot_id"] if paper else None, r[prefix + "exchange__code"],
                                 r[prefix + "exchange__protocol"], r[prefix + "exchange__rest_url"],
                                 r[prefix + "market__symbol"], r[prefix + "market__native_symbol"])
        return batches[key]

    for r in rows:
        if r["id"] in waiting:
            continue
        batch_for(r["is_paper"], r).orders.append(LocalOrder(
            r["id"], r["client_order_id"], r["exchange_order_id"], r["status"], r["quantity"],
            recorded.get(r["id"], ZERO), r["created_at"], r["updated_at"]))
    for r in bots.values("id", "owner_id", "account_id", "market__symbol", "market__native_symbol",
                         "exchange__code", "exchange__protocol", "exchange__rest_url"):
        batch_for(False, {**r, "bot_id": r["id"]}, prefix="")
    return sorted(batches.values(), key=lambda b: (b.scope, b.symbol))


# -- locks -----------------------------------------------------------------------------------------------
@contextmanager
def scope_lock(scope: str) -> Iterator[bool]:
    """One reconciler per account (or paper bot) at a time; yields False when another holds it."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(scope.encode()) & 0x7FFFFFFF
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE, key])
            got = bool(cur.fetchone()[0])
        try:
            yield got
        finally:
            if got:
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, key])
        return
    lock = _local_locks.setdefault(scope, threading.Lock())  # SQLite: the embedded mode is one process
    got = lock.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            lock.release()


# -- the pass --------------------------------------------------------------------------------------------
def known_rows(batch: Batch, truth: BatchTruth) -> Known:
    """The rows the planner must know about: recorded trade ids, orders by exchange id and client id."""
    exchange_ids = {t.exchange_order_id for t in truth.trades}
    client_ids = {o.client_order_id for o in truth.open_orders} - {o.client_order_id for o in batch.orders}
    owned = Order.objects.filter(bot__exchange__code=batch.exchange)
    owned = owned.filter(bot_id=batch.bot_id) if batch.account_id is None else owned.filter(
        bot__account_id=batch.account_id)
    return Known(
        trade_ids=set(Fill.objects.filter(exchange__code=batch.exchange, trade_id__in=[
            t.trade_id for t in truth.trades]).values_list("trade_id", flat=True)) if truth.trades else set(),
        orders_by_exchange_id=dict(owned.filter(exchange_order_id__in=exchange_ids).values_list(
            "exchange_order_id", "id")) if exchange_ids else {},
        rows_by_client_id={c: (i, s) for c, i, s in Order.objects.filter(client_order_id__in=client_ids)
                           .values_list("client_order_id", "id", "status")} if client_ids else {},
    )


def reconcile_orders(*, account_ids: list[int] | None = None, bot_ids: list[int] | None = None, full: bool = False,
                     client_factory: ClientFactory | None = None, now: datetime | None = None) -> ReconcileReport:
    """Reconcile every due order (optionally of some accounts or bots) with its venue; returns a report.

    A ``full`` pass also scans each batch's recent trades (fills of orders we do not know, fills of
    orders already closed here) and checks positions against the account balances."""
    started, now = time.monotonic(), now or timezone.now()
    report = ReconcileReport()
    factory = client_factory or default_client
    batches = collect_batches(now, account_ids=account_ids, bot_ids=bot_ids)
    accounts = {a.id: a for a in ExchangeAccount.objects.filter(pk__in={b.account_id for b in batches} - {None})}
    scopes = sorted({b.scope for b in batches})
    with _held(scopes) as held:
        report.skipped_busy = len(scopes) - len(held)
        jobs, clients = [], {}
        for batch in (b for b in batches if b.scope in held):
            if batch.scope not in clients:
                clients[batch.scope] = factory(batch, accounts.get(batch.account_id))
            client = clients[batch.scope]
            if client is None:
                report.errors.append(f"{batch.scope}: no order API for {batch.protocol}")
                continue
            natives = getattr(client, "natives", None)
            if isinstance(natives, dict):  # the venue's own symbol for each unified one
                natives[batch.symbol] = batch.native
            jobs.append((batch, client))
        truths, balances = asyncio.run(fetch_all(jobs, now, full)) if jobs else ([], {})
        report.requests = sum(getattr(c, "requests", 0) for c in clients.values() if c is not None)
        for (batch, _), truth in zip(jobs, truths, strict=True):
            plan = plan_batch(batch.scope, batch.symbol, batch.orders, truth, known_rows(batch, truth), now=now,
                              grace=timedelta(seconds=settings.RECONCILE_GRACE_SECONDS))
            report.batches += 1
            report.orders += len(batch.orders)
            if not plan.is_empty:
                report.add(apply_plan(plan, scope=batch.scope, owner_id=batch.owner_id,
                                      account_id=batch.account_id, bot_id=batch.bot_id, symbol=batch.symbol,
                                      now=now))
        report.findings += check_positions({accounts[i]: b for i, b in balances.items()})
    report.seconds = round(time.monotonic() - started, 3)
    if report.changed or report.fills or report.findings:
        log.info("reconcile: %s", report.as_dict())
    return report


@contextmanager
def _held(scopes: list[str]) -> Iterator[set[str]]:
    """Take every scope lock we can; the rest belong to another reconciler this round."""
    held: set[str] = set()
    stack: list[Any] = []
    try:
        for scope in scopes:
            cm = scope_lock(scope)
            if cm.__enter__():
                held.add(scope)
                stack.append(cm)
            else:
                cm.__exit__(None, None, None)
        yield held
    finally:
        for cm in reversed(stack):
            cm.__exit__(None, None, None)
