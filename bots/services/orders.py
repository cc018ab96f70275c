"""Order and fill writers for the engine: the write-ahead order row, its changes and its fills.

Called by ``bots.store`` from the engine's writer thread, in batches inside one transaction; each
function is also safe to call alone. They take the engine's plain types (``bots.engine.types``).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from marketdata.feeds.serialize import decimal_text

from ..engine import types as core
from ..models import NotificationKind, Order, OrderEvent
from .notifications import notify
from .rows import new_fill_row, new_order_row, order_changes


def create_order(order: core.Order, is_paper: bool = True, stamp: dict[str, object] | None = None) -> Order:
    """Write an order as ``pending_submit`` with its client order id, before it is ever sent.
    ``stamp`` (a leased worker's id and fencing token) is kept on the order's first event."""
    with transaction.atomic(savepoint=False):  # the writer isolates a failing write itself
        row = new_order_row(order, is_paper=is_paper)
        row.save(force_insert=True)
        OrderEvent.objects.create(order=row, status=row.status, message="created",
                                  data={"quantity": decimal_text(order.quantity), "price": decimal_text(order.price),
                                        **(stamp or {})})
    return row


def update_order(order: core.Order, note: str = "") -> int:
    """Apply the engine's view of an order (status, exchange id, fills, error) and log the change."""
    now = timezone.now()
    fields = {**order_changes(order), "updated_at": now}
    if order.status != "pending_submit":
        fields["submitted_at"] = order.updated_at or now
    if order.status in core.FINAL_STATUSES:
        fields["closed_at"] = order.updated_at or now
    with transaction.atomic(savepoint=False):
        row = (Order.objects.select_for_update().filter(client_order_id=order.client_order_id)
               .values("id", "status", "filled_quantity").first())
        if row is None or not _moves_forward(row["status"], row["filled_quantity"], order):
            return 0
        changed = Order.objects.filter(pk=row["id"]).update(**fields)
        if changed:
            row_id = row["id"]
            OrderEvent.objects.create(order_id=row_id, status=order.status, message=note[:1000], data={
                "filled_quantity": decimal_text(order.filled_quantity),
                "average_price": decimal_text(order.average_price),
                "exchange_order_id": order.exchange_order_id or ""})
    return changed


def _moves_forward(status: str, filled: Decimal, order: core.Order) -> bool:
    """Whether the engine's view may replace the row: reconciliation may already have taken it
    further (a final state, more fills), and an order never moves backwards."""
    if order.filled_quantity < filled:
        return False
    if status in core.FINAL_STATUSES:
        return order.status == status
    return True


def record_fill(client_order_id: str, fill: core.Fill, exchange_id: int) -> bool:
    """Store one execution once (the trade id is unique per exchange and market); False if already stored."""
    found = Order.objects.filter(client_order_id=client_order_id).values_list(
        "id", "bot_id", "bot__owner_id", "bot__name", "side", "bot__market_id", "bot__market__symbol").first()
    if found is None:
        return False
    order_id, bot_id, owner_id, bot_name, side, market_id, symbol = found
    try:
        with transaction.atomic():
            new_fill_row(order_id, exchange_id, fill, market_id).save(force_insert=True)
            notify(owner_id, NotificationKind.FILL, f"{bot_name}: {side} {fill.quantity.normalize():f} {symbol}",
                   f"{side} {fill.quantity.normalize():f} {symbol} at {fill.price.normalize():f}", bot_id=bot_id)
    except IntegrityError:
        return False
    return True
