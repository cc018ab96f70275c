"""The planner: compare our non-final orders of one (account, symbol) batch with the venue's truth.

Pure and deterministic: the shell fetches ``BatchTruth`` and the rows it names (``Known``), this
module says what to change, which fills to record and which differences to report. Applying a
plan twice changes nothing the second time (fills are keyed by trade id, statuses only move
forward), which is what makes two reconcilers at once safe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ..engine.types import FINAL_STATUSES, UNCONFIRMED_STATUSES
from .types import ZERO, BatchTruth, LocalOrder, OrderAbsent, VenueOrder, VenueTrade

# How far along its life a status is; a plan never moves an order backwards.
RANK = {"pending_submit": 0, "submitted": 0, "unknown": 0, "open": 1, "partially_filled": 2,
        "pending_cancel": 3, "filled": 4, "canceled": 4, "rejected": 4, "expired": 4}
ABSENT_REASON = "The exchange confirmed it has no such order: it never reached the exchange"


@dataclass(frozen=True, slots=True)
class StatusChange:
    """Move one order to the venue's status (and learn its exchange id)."""

    order_id: int
    status: str
    exchange_order_id: str = ""
    venue_filled: Decimal | None = None
    reason: str = ""
    # set only to move an order back (a lost cancel): applied only if the row is still this old
    unchanged_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewFill:
    """A trade on the venue we have not recorded yet."""

    order_id: int
    trade: VenueTrade


@dataclass(frozen=True, slots=True)
class Finding:
    """A difference to report as a ``Discrepancy``; ``adopted`` ones were already repaired."""

    kind: str
    key: str
    message: str
    data: dict[str, Any]
    order_id: int | None = None
    adopted: bool = False


@dataclass(slots=True)
class Known:
    """Rows the shell looked up for this batch: existing trade ids, orders by exchange id (any status)
    and orders by client order id (for venue open orders missing from the batch)."""

    trade_ids: set[str] = field(default_factory=set)
    orders_by_exchange_id: dict[str, int] = field(default_factory=dict)
    rows_by_client_id: dict[str, tuple[int, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    changes: list[StatusChange] = field(default_factory=list)
    fills: list[NewFill] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unreachable: dict[int, str] = field(default_factory=dict)  # order id -> error; retried with backoff

    @property
    def is_empty(self) -> bool:
        return not (self.changes or self.fills or self.findings or self.unreachable)


def to_query(local: Iterable[LocalOrder], open_orders: Iterable[VenueOrder]) -> list[LocalOrder]:
    """Our orders the venue does not list as open: each needs a targeted query by client order id."""
    listed = {o.client_order_id for o in open_orders}
    return [o for o in local if o.client_order_id not in listed]


def _fetched(truth: BatchTruth) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for t in truth.trades:
        out[t.exchange_order_id] = out.get(t.exchange_order_id, ZERO) + t.quantity
    return out


def trades_missing(local: Iterable[LocalOrder], truth: BatchTruth) -> list[str]:
    """Exchange order ids whose venue filled quantity exceeds what our rows and the fetched trades
    explain: their trades must be fetched (by time window, then by order id)."""
    fetched = _fetched(truth)
    open_by_client = {v.client_order_id: v for v in truth.open_orders}
    out = []
    for order in local:
        venue = _venue_view(order, open_by_client, truth)
        if isinstance(venue, VenueOrder) and venue.exchange_order_id and venue.filled_quantity > max(
                order.filled_quantity, fetched.get(venue.exchange_order_id, ZERO)):
            out.append(venue.exchange_order_id)
    return out


def _venue_view(order: LocalOrder, open_by_client: dict[str, VenueOrder],
                truth: BatchTruth) -> VenueOrder | Exception | None:
    return open_by_client.get(order.client_order_id) or truth.queried.get(order.client_order_id)


def plan_batch(scope: str, symbol: str, local: list[LocalOrder], truth: BatchTruth, known: Known,
               *, now: datetime, grace: timedelta) -> Plan:
    """What to change so our rows of ``symbol`` under ``scope`` (``acct:3`` or ``bot:7``) match the venue."""
    plan = Plan()
    fetched = _fetched(truth)
    by_client = {o.client_order_id: o for o in local}
    open_by_client = {v.client_order_id: v for v in truth.open_orders}
    order_by_exchange_id = dict(known.orders_by_exchange_id)
    for order in local:
        if order.exchange_order_id:
            order_by_exchange_id[order.exchange_order_id] = order.id
        venue = open_by_client.get(order.client_order_id) or truth.queried.get(order.client_order_id)
        if isinstance(venue, VenueOrder):
            if venue.exchange_order_id:
                order_by_exchange_id[venue.exchange_order_id] = order.id
            unexplained = venue.filled_quantity - max(order.filled_quantity, fetched.get(venue.exchange_order_id, ZERO))
            if unexplained > 0 and not truth.trades_complete:
                # fills we could not fetch: hold the order where it is rather than close it without them
                plan.unreachable[order.id] = "the exchange reports fills whose trades could not be fetched yet"
                continue
            _follow(plan, order, venue, now - grace)
        elif isinstance(venue, OrderAbsent):
            status = "canceled" if order.status == "pending_cancel" else "expired"
            reason = ABSENT_REASON if order.status in UNCONFIRMED_STATUSES else "The exchange no longer has this order"
            reason = f"{reason} ({venue})"  # the venue's own words, e.g. Binance's -2013
            plan.changes.append(StatusChange(order.id, status, order.exchange_order_id, None, reason))
        elif venue is not None:  # VenueUnavailable: never "not found"; the order waits for an answer
            plan.unreachable[order.id] = str(venue) or type(venue).__name__
            if order.status == "pending_submit":
                reason = f"No answer from the exchange: {venue}"
                plan.changes.append(StatusChange(order.id, "unknown", "", None, reason))
    _orphans(plan, scope, symbol, truth.open_orders, by_client, known)
    _trades(plan, scope, symbol, truth.trades, order_by_exchange_id, known, now - grace)
    return plan


def _follow(plan: Plan, order: LocalOrder, venue: VenueOrder, settled_before: datetime) -> None:
    if (order.status == "pending_cancel" and venue.status in ("open", "partially_filled")
            and order.updated_at is not None and order.updated_at < settled_before):
        # our cancel never reached the exchange (the engine died, or the request was lost): the order
        # is still working there, and saying so lets the engine or its owner cancel it again
        plan.changes.append(StatusChange(order.id, venue.status, venue.exchange_order_id, venue.filled_quantity,
                                         "the exchange never received the cancel: the order is still open",
                                         unchanged_since=order.updated_at))
        return
    moves = RANK.get(venue.status, 0) > RANK.get(order.status, 0)
    learns_id = bool(venue.exchange_order_id) and venue.exchange_order_id != order.exchange_order_id
    if moves or learns_id or venue.filled_quantity > order.filled_quantity:
        status = venue.status if moves else order.status
        plan.changes.append(StatusChange(order.id, status, venue.exchange_order_id, venue.filled_quantity,
                                         f"exchange reports {venue.status}"))


def _orphans(plan: Plan, scope: str, symbol: str, open_orders: list[VenueOrder],
             by_client: dict[str, LocalOrder], known: Known) -> None:
    for v in open_orders:
        if v.client_order_id in by_client:
            continue
        row = known.rows_by_client_id.get(v.client_order_id)
        data = {"symbol": symbol, "client_order_id": v.client_order_id, "exchange_order_id": v.exchange_order_id,
                "side": v.side, "type": v.type, "quantity": str(v.quantity),
                "price": None if v.price is None else str(v.price), "status": v.status}
        if row is None:
            plan.findings.append(Finding(
                "unknown_order_on_exchange", f"{scope}:orphan:{symbol}:{v.exchange_order_id}",
                f"{v.side} {v.quantity} {symbol} is open on the exchange but not in our orders", data))
        elif row[1] in FINAL_STATUSES:
            plan.findings.append(Finding(
                "status_conflict", f"{scope}:conflict:{v.client_order_id}",
                f"Our order is {row[1]} but the exchange still has it {v.status}", data, order_id=row[0]))
        # a non-final row outside this batch (within its grace, backing off, locked) is handled later


def _trades(plan: Plan, scope: str, symbol: str, trades: list[VenueTrade], order_by_exchange_id: dict[str, int],
            known: Known, missed_before: datetime) -> None:
    seen: set[str] = set()
    for t in trades:
        if t.trade_id in known.trade_ids or t.trade_id in seen:
            continue
        seen.add(t.trade_id)
        data = {"symbol": symbol, "trade_id": t.trade_id, "exchange_order_id": t.exchange_order_id,
                "side": t.side, "price": str(t.price), "quantity": str(t.quantity), "fee": str(t.fee),
                "fee_asset": t.fee_asset, "time": t.time.isoformat()}
        order_id = order_by_exchange_id.get(t.exchange_order_id)
        if order_id is None:
            plan.findings.append(Finding(
                "unknown_fill", f"{scope}:trade:{symbol}:{t.trade_id}",
                f"A {t.side} fill of {t.quantity} {symbol} for an order we do not know", data))
            continue
        plan.fills.append(NewFill(order_id, t))
        if t.time < missed_before:  # the engine had its chance to record it: report the repair
            plan.findings.append(Finding(
                "missed_fill", f"{scope}:fill:{symbol}:{t.trade_id}",
                f"Recorded a missed {t.side} fill of {t.quantity} {symbol} at {t.price}", data,
                order_id=order_id, adopted=True))
