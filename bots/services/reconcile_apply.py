"""Reconcile-side writers: apply one batch's plan to the rows, in one short transaction.

Safe when two reconcilers (or the engine) touch the same rows: order rows are taken with
``select_for_update(skip_locked=True)`` (a locked row waits for the next round), a fill is inserted
under the unique (exchange, trade id) constraint inside a savepoint, and a position moves only when
*this* transaction inserted the fill, so a fill counts once whoever records it. Statuses only move
forward (``plan.RANK``).

The fill insert is the engine's own ``orders.record_fill``; the position arithmetic is the engine's
``Position``. Status changes here only move forward, unlike the engine's ``update_order`` (which writes
the engine's whole view of an order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from bots.engine.positions import Position as CorePosition
from bots.engine.types import FINAL_STATUSES, ZERO
from bots.engine.types import Fill as CoreFill
from bots.reconcile.plan import RANK, Finding, Plan, StatusChange
from bots.reconcile.types import VenueTrade

from .. import events
from ..models import Bot, Discrepancy, DiscrepancyStatus, NotificationKind, Order, OrderEvent, Position
from .lifecycle import create_bot_event
from .notifications import notify
from .orders import record_fill
from .positions import write_position
from .rows import position_data, risk_settings


@dataclass(slots=True)
class Applied:
    """What one plan changed."""

    changed: int = 0
    fills: int = 0
    findings: int = 0
    skipped_locked: int = 0
    unreachable: int = 0
    notes: list[str] = field(default_factory=list)
    bots: set[int] = field(default_factory=set)  # bots whose orders, fills or position it wrote


def _locked_orders(ids: set[int]) -> dict[int, Order]:
    qs = Order.objects.select_related("bot__market__exchange").filter(pk__in=ids)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return {o.id: o for o in qs}


def apply_plan(plan: Plan, *, scope: str, owner_id: int, account_id: int | None, bot_id: int | None,
               symbol: str, now: datetime | None = None) -> Applied:
    """Write one batch's plan: fills first (so a final status has its fills), then statuses, findings."""
    now = now or timezone.now()
    out = Applied()
    with transaction.atomic():
        ids = {c.order_id for c in plan.changes} | {f.order_id for f in plan.fills} | set(plan.unreachable)
        rows = _locked_orders(ids)
        out.skipped_locked = len(ids - rows.keys())
        touched: dict[int, Decimal | None] = {}
        for new in plan.fills:
            order = rows.get(new.order_id)
            if order is not None and record_reconciled_fill(order, new.trade):
                out.fills += 1
                out.bots.add(order.bot_id)
                touched.setdefault(order.id, None)
        for change in plan.changes:
            order = rows.get(change.order_id)
            if order is not None and _apply_change(order, change, now):
                out.changed += 1
                out.bots.add(order.bot_id)
            if order is not None:
                touched[order.id] = change.venue_filled
        for order_id, venue_filled in touched.items():
            unexplained = refresh_order_totals(rows[order_id], venue_filled)
            if unexplained > 0:
                plan.findings.append(_unexplained(scope, rows[order_id], unexplained, symbol))
        for order_id, error in plan.unreachable.items():
            if order_id in rows:
                note_unreachable(rows[order_id], error)
                out.unreachable += 1
        for finding in plan.findings:
            if record_finding(finding, owner_id=owner_id, account_id=account_id, bot_id=bot_id, symbol=symbol):
                out.findings += 1
        for changed_bot in out.bots:  # the engine hosting it reloads what we wrote (sent on commit)
            events.send_engine_control("resync", changed_bot)
    return out


def _apply_change(order: Order, change: StatusChange, now: datetime) -> bool:
    if change.unchanged_since is not None:  # a lost cancel: only if nobody touched the row since we looked
        if order.updated_at != change.unchanged_since or order.status != "pending_cancel":
            return False
    elif order.status in FINAL_STATUSES or (RANK.get(change.status, 0) < RANK.get(order.status, 0)):
        return False  # another writer got there first; never move an order backwards
    fields = ["updated_at"]
    if change.exchange_order_id and change.exchange_order_id != order.exchange_order_id:
        order.exchange_order_id = change.exchange_order_id
        fields.append("exchange_order_id")
    moved = change.status != order.status
    if moved:
        order.status = change.status
        fields.append("status")
        if change.status in FINAL_STATUSES:
            order.closed_at = now
            fields.append("closed_at")
        if change.reason and (change.status in ("rejected", "expired", "unknown") or change.unchanged_since):
            order.last_error = change.reason[:2000]
            fields.append("last_error")
    if len(fields) == 1:
        return False
    order.save(update_fields=fields)
    OrderEvent.objects.create(order=order, status=order.status, message=f"reconcile: {change.reason}",
                              data={"source": "reconcile", "exchange_order_id": order.exchange_order_id})
    if moved:
        create_bot_event(order.bot, "reconcile", f"Order {order.client_order_id} is {order.status}: {change.reason}",
                         {"client_order_id": order.client_order_id, "status": order.status})
    return True


def record_reconciled_fill(order: Order, trade: VenueTrade) -> bool:
    """Insert the fill once (the engine's ``record_fill``: unique exchange trade id); only the
    transaction that inserted it moves the position, so a fill counts once whoever records it."""
    fill = CoreFill(order.client_order_id, trade.trade_id, order.side, trade.price, trade.quantity, trade.fee,
                    trade.fee_asset, trade.time, trade.is_maker)
    if not record_fill(order.client_order_id, fill, order.bot.market.exchange_id):
        return False  # already recorded (by the engine or another reconciler)
    apply_fill_to_position(order.bot, fill)
    return True


def refresh_order_totals(order: Order, venue_filled: Decimal | None) -> Decimal:
    """Filled quantity, average price and fees from the order's fills; returns what the venue reports
    filled beyond our fills (a fill we could not fetch)."""
    fills = list(order.fills.values_list("price", "quantity", "fee", "fee_asset"))  # Decimal sums in Python
    qty = sum((q for _, q, _, _ in fills), ZERO)
    notional = sum((p * q for p, q, _, _ in fills), ZERO)
    order.filled_quantity = max(qty, order.filled_quantity)  # what our fills prove, never more
    order.average_fill_price = (notional / qty) if qty else order.average_fill_price
    order.fees = sum((f for _, _, f, _ in fills), ZERO)
    order.fee_asset = next((a for _, _, _, a in fills if a), order.fee_asset)
    order.save(update_fields=["filled_quantity", "average_fill_price", "fees", "fee_asset", "updated_at"])
    return (venue_filled or ZERO) - qty


def _unexplained(scope: str, order: Order, qty: Decimal, symbol: str) -> Finding:
    return Finding("missed_fill", f"{scope}:unexplained:{order.client_order_id}:{qty}",
                   f"The exchange reports {qty} more filled than the fills we could fetch",
                   {"client_order_id": order.client_order_id, "unexplained_quantity": str(qty), "symbol": symbol},
                   order_id=order.id)


def apply_fill_to_position(bot: Bot, fill: CoreFill) -> Position | None:
    """Move the bot's open position by one fill with the engine's own position arithmetic. Two
    reconcilers may each open the bot's first position at once (locking no row, as none exists): the
    second insert waits for the first's commit and fails on the one-open-row constraint, and is
    then applied to the row the first one opened."""
    try:
        with transaction.atomic():
            return _apply_fill_to_position(bot, fill)
    except IntegrityError:  # the other reconciler's row is committed now: apply the fill to it
        with transaction.atomic():
            return _apply_fill_to_position(bot, fill)


def _apply_fill_to_position(bot: Bot, fill: CoreFill) -> Position | None:
    row = Position.objects.select_for_update().filter(bot=bot, market=bot.market, closed_at__isnull=True).first()
    if row is None and fill.side == "sell":
        return None  # spot, long only: a sell without a position has nothing to reduce
    risk = risk_settings(bot)
    core = CorePosition.from_dict(position_data(row), risk, base=bot.market.base) if row else \
        CorePosition(base=bot.market.base)
    core.dust = bot.market.quantity_step  # as the engine: a sell that leaves less than a step closes it
    core.apply_fill(fill, risk)
    return write_position(row, core.to_dict(), bot_id=bot.id, market_id=bot.market_id)


def note_unreachable(order: Order, error: str) -> int:
    """Log an unanswered query; the attempt count drives the backoff of the next one."""
    last = order.events.order_by("-time", "-id").values_list("data", flat=True).first() or {}
    attempt = int(last.get("reconcile_attempt", 0)) + 1 if isinstance(last, dict) else 1
    order.last_error = f"reconcile: no answer ({error})"[:2000]
    order.save(update_fields=["last_error", "updated_at"])
    OrderEvent.objects.create(order=order, status=order.status, message=order.last_error,
                              data={"source": "reconcile", "reconcile_attempt": attempt})
    return attempt


def record_finding(finding: Finding, *, owner_id: int, account_id: int | None, bot_id: int | None,
                   symbol: str) -> bool:
    """One ``Discrepancy`` per key: found again, it is left as it is (an ignored one stays ignored)."""
    adopted = finding.adopted
    if bot_id is None and finding.order_id is not None:
        bot_id = Order.objects.filter(pk=finding.order_id).values_list("bot_id", flat=True).first()
    row, created = Discrepancy.objects.get_or_create(key=finding.key[:200], defaults={
        "owner_id": owner_id, "account_id": account_id, "bot_id": bot_id, "order_id": finding.order_id,
        "kind": finding.kind, "symbol": symbol, "message": finding.message, "data": finding.data,
        "status": DiscrepancyStatus.ADOPTED if adopted else DiscrepancyStatus.OPEN,
        "resolution": "recorded by reconciliation" if adopted else "",
        "resolved_at": timezone.now() if adopted else None,
    })
    if created and bot_id is not None:
        bot = Bot.objects.get(pk=bot_id)
        create_bot_event(bot, "discrepancy", finding.message, {"kind": finding.kind, "discrepancy_id": row.id})
    if created and not adopted:
        notify(owner_id, NotificationKind.DISCREPANCY, f"Reconciliation: {row.get_kind_display()}",
               finding.message, bot_id=bot_id)
    return created
