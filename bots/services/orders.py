"""Order and fill writers for the engine: the write-ahead order row, its changes and its fills.

Called by ``bots.store`` from the engine's writer thread, in batches inside one transaction; each
function is also safe to call alone. They take the engine's plain types (``bots.engine.types``).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..engine import types as core
from ..models import FINAL_ORDER_STATUSES, Fill, Order, OrderEvent


def create_order(order: core.Order, is_paper: bool = True, stamp: dict[str, object] | None = None) -> Order:
    """Write an order as ``pending_submit`` with its client order id, before it is ever sent.
    ``stamp`` (a leased worker's id and fencing token) is kept on the order's first event."""
    with transaction.atomic():
        row = Order.objects.create(
            bot_id=order.bot_id, client_order_id=order.client_order_id, side=order.side, type=order.type,
            quantity=order.quantity, price=order.price, status=order.status, is_paper=is_paper,
            reason=order.purpose[:32],
        )
        OrderEvent.objects.create(order=row, status=row.status, message="created",
                                  data={"quantity": str(order.quantity), "price": _text(order.price), **(stamp or {})})
    return row


def update_order(order: core.Order, note: str = "") -> int:
    """Apply the engine's view of an order (status, exchange id, fills, error) and log the change."""
    now = timezone.now()
    fields = {
        "status": order.status, "exchange_order_id": order.exchange_order_id or "",
        "filled_quantity": order.filled_quantity, "average_fill_price": order.average_price,
        "fees": order.fees, "last_error": order.last_error, "updated_at": now,
    }
    if order.status != "pending_submit":
        fields["submitted_at"] = order.updated_at or now
    if order.status in FINAL_ORDER_STATUSES:
        fields["closed_at"] = order.updated_at or now
    with transaction.atomic():
        row = (Order.objects.select_for_update().filter(client_order_id=order.client_order_id)
               .values("id", "status", "filled_quantity").first())
        if row is None or not _moves_forward(row["status"], row["filled_quantity"], order):
            return 0
        changed = Order.objects.filter(pk=row["id"]).update(**fields)
        if changed:
            row_id = row["id"]
            OrderEvent.objects.create(order_id=row_id, status=order.status, message=note[:1000], data={
                "filled_quantity": str(order.filled_quantity), "average_price": _text(order.average_price),
                "exchange_order_id": order.exchange_order_id or ""})
    return changed


def _moves_forward(status: str, filled: object, order: core.Order) -> bool:
    """Whether the engine's view may replace the row: reconciliation may already have taken it
    further (a final state, more fills), and an order never moves backwards."""
    if order.filled_quantity < filled:  # type: ignore[operator]
        return False
    if status in FINAL_ORDER_STATUSES:
        return order.status == status
    return True


def record_fill(client_order_id: str, fill: core.Fill, exchange_id: int) -> bool:
    """Store one execution once (the trade id is unique per exchange); False if already stored."""
    order_id = Order.objects.filter(client_order_id=client_order_id).values_list("id", flat=True).first()
    if order_id is None:
        return False
    try:
        with transaction.atomic():
            Fill.objects.create(order_id=order_id, exchange_id=exchange_id, trade_id=fill.trade_id[:64],
                                price=fill.price, quantity=fill.quantity, fee=fill.fee,
                                fee_asset=fill.fee_asset[:16], is_maker=fill.is_maker, time=fill.time)
    except IntegrityError:
        return False
    return True


def _text(value: object) -> str | None:
    return None if value is None else str(value)
