"""Resolving a ``Discrepancy``: adopt it (take the exchange's truth into our rows), ignore it, or
flatten it (cancel the orphan order on the exchange). Called by the admin's actions."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bots.reconcile.types import OrderAbsent, VenueUnavailable

from .. import events
from ..models import Bot, Discrepancy, DiscrepancyKind, DiscrepancyStatus, Order, OrderEvent, OrderStatus, Position
from .lifecycle import create_bot_event
from .reconcile_fetch import account_client

ORPHAN_KINDS = (DiscrepancyKind.UNKNOWN_ORDER, DiscrepancyKind.STATUS_CONFLICT)


def _close(d: Discrepancy, status: str, resolution: str, actor: str) -> Discrepancy:
    d.status, d.resolved_at = status, timezone.now()
    d.resolution = f"{resolution} (by {actor})"[:2000]
    d.save(update_fields=["status", "resolved_at", "resolution"])
    if d.bot_id:
        create_bot_event(d.bot, "discrepancy", f"{d.get_kind_display()}: {status}", {"discrepancy_id": d.id})
    return d


def _require_open(d: Discrepancy) -> None:
    if d.status != DiscrepancyStatus.OPEN:
        raise ValueError(f"This discrepancy is already {d.status}.")


def ignore_discrepancy(d: Discrepancy, *, actor: str = "system") -> Discrepancy:
    """Close it without changing anything; found again, it stays ignored."""
    _require_open(d)
    return _close(d, DiscrepancyStatus.IGNORED, "ignored", actor)


@transaction.atomic
def adopt_discrepancy(d: Discrepancy, *, actor: str = "system") -> Discrepancy:
    """Take the exchange's truth: an orphan order becomes ours (on the one bot trading that market on
    the account), a conflicting final order is reopened, a position shrinks to the exchange's balance."""
    _require_open(d)
    data = d.data
    if d.kind == DiscrepancyKind.UNKNOWN_ORDER:
        bots = list(Bot.objects.filter(account_id=d.account_id, market__symbol=d.symbol))
        if len(bots) != 1:
            raise ValueError(f"Adopting needs exactly one bot trading {d.symbol} on this account ({len(bots)} found).")
        order = Order.objects.create(
            bot=bots[0], client_order_id=data["client_order_id"], exchange_order_id=data["exchange_order_id"],
            side=data["side"], type="market" if data["type"] == "market" else "limit",
            quantity=Decimal(data["quantity"]), price=Decimal(data["price"]) if data.get("price") else None,
            status=OrderStatus.OPEN, is_paper=False, reason="adopted", submitted_at=timezone.now())
        OrderEvent.objects.create(order=order, status=order.status, message=f"adopted from the exchange by {actor}")
        d.bot, d.order = bots[0], order
        d.save(update_fields=["bot", "order"])
        events.send_engine_control("resync", bots[0].id)  # the engine hosting it takes the adopted order
        return _close(d, DiscrepancyStatus.ADOPTED, f"order adopted onto {bots[0]}", actor)
    if d.kind == DiscrepancyKind.STATUS_CONFLICT and d.order_id:
        order = Order.objects.select_for_update().get(pk=d.order_id)
        order.status, order.closed_at = data.get("status") or OrderStatus.OPEN, None
        order.save(update_fields=["status", "closed_at", "updated_at"])
        OrderEvent.objects.create(order=order, status=order.status,
                                  message=f"reopened to match the exchange by {actor}")
        events.send_engine_control("resync", order.bot_id)
        return _close(d, DiscrepancyStatus.ADOPTED, f"order reopened as {order.status}", actor)
    if d.kind == DiscrepancyKind.POSITION_MISMATCH:
        positions = list(Position.objects.open().select_for_update().filter(
            bot__account_id=d.account_id, market__base=data["asset"]))
        if len(positions) != 1:
            raise ValueError(f"Adopting needs exactly one open {data['asset']} position ({len(positions)} found).")
        position = positions[0]
        position.quantity = Decimal(data["exchange"])
        if not position.quantity:
            position.closed_at = timezone.now()
        position.save(update_fields=["quantity", "closed_at", "updated_at"])
        events.send_engine_control("resync", position.bot_id)
        return _close(d, DiscrepancyStatus.ADOPTED, f"position set to the exchange's {position.quantity}", actor)
    return _close(d, DiscrepancyStatus.ADOPTED, "accepted", actor)


def flatten_discrepancy(d: Discrepancy, *, actor: str = "system") -> Discrepancy:
    """Cancel the orphan order on the exchange (nothing else is flattened automatically: selling coins
    is a decision for a person)."""
    _require_open(d)
    if d.kind not in ORPHAN_KINDS or d.account is None:
        raise ValueError("Only an order open on the exchange can be flattened (it is cancelled there).")
    account = d.account
    client = account_client(account.exchange.protocol, account.exchange.rest_url, account)
    if client is None:
        raise ValueError(f"{account.exchange} cannot cancel orders from here.")

    async def cancel() -> None:
        try:
            await client.cancel(d.symbol, d.data.get("client_order_id", ""), d.data["exchange_order_id"])
        finally:
            await client.close()

    try:
        asyncio.run(cancel())
    except (VenueUnavailable, OrderAbsent) as exc:
        raise ValueError(f"The exchange did not cancel it: {exc}") from exc
    return _close(d, DiscrepancyStatus.FLATTENED, "cancelled on the exchange", actor)
