"""Read models for the portal's pages and their JSON snapshots (a fixed number of queries each).

A page renders from these on the server (so it works without JavaScript); the same dicts, as JSON,
are what the live client reloads on every (re)connect before it applies pushes on top.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Sum

from .. import access, events
from ..models import Bot, BotEvent, Fill, Order, Position

LAST_PRICE_KEY = events.LAST_PRICE_KEY
RECENT_ORDERS = 20
RECENT_FILLS = 200
RECENT_EVENTS = 50


def _d(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def last_prices(bot_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The newest price each bot's engine published (kept in the cache by ``remember_price``)."""
    if not bot_ids:
        return {}
    found = cache.get_many([LAST_PRICE_KEY.format(i) for i in bot_ids])
    return {int(k.rsplit(".", 1)[1]): v for k, v in found.items()}


def _pnl(position: Position | None, realized: Decimal, price: Decimal | None) -> tuple[Decimal, Decimal | None]:
    """(realised over all positions, unrealised on the open one at ``price``)."""
    unrealized = None
    if position is not None and position.quantity and position.average_entry is not None and price is not None:
        unrealized = (price - position.average_entry) * position.quantity
    return realized, unrealized


def _position_dict(position: Position | None) -> dict[str, Any] | None:
    if position is None:
        return None
    return {"quantity": _d(position.quantity), "average_entry": _d(position.average_entry),
            "realized_pnl": _d(position.realized_pnl), "stop_loss_price": _d(position.stop_loss_price),
            "take_profit_price": _d(position.take_profit_price),
            "trailing_stop_price": _d(position.trailing_stop_price)}


def _bot_row(bot: Bot, position: Position | None, realized: Decimal, price: dict[str, Any] | None) -> dict[str, Any]:
    last = Decimal(price["price"]) if price and price.get("price") else None
    realized, unrealized = _pnl(position, realized, last)
    total = realized + (unrealized or 0)
    return {
        "id": bot.pk, "name": bot.name, "status": bot.status, "status_reason": bot.status_reason,
        "mode": bot.mode, "exchange": bot.exchange.code, "symbol": bot.market.symbol,
        "strategy": bot.strategy, "position": _position_dict(position),
        "last_price": _d(last), "price_time": price.get("time") if price else None,
        "realized_pnl": _d(realized), "unrealized_pnl": _d(unrealized), "pnl": _d(total),
    }


def dashboard(user: object) -> dict[str, Any]:
    """Every bot of the user with status, mode, position, last price and P&L: three queries."""
    bots = list(access.bots_for_user(user).select_related("exchange", "market").order_by("name", "id"))
    ids = [b.pk for b in bots]
    positions = {p.bot_id: p for p in Position.objects.filter(bot__in=ids).open()} if ids else {}
    realized = dict(
        Position.objects.filter(bot__in=ids).values_list("bot_id").annotate(total=Sum("realized_pnl"))
        .values_list("bot_id", "total")
    ) if ids else {}
    prices = last_prices(ids)
    rows = [_bot_row(b, positions.get(b.pk), realized.get(b.pk) or Decimal(0), prices.get(b.pk)) for b in bots]
    return {"bots": rows}


def _order_dict(order: Order) -> dict[str, Any]:
    return {"client_order_id": order.client_order_id, "side": order.side, "order_type": order.type,
            "quantity": _d(order.quantity), "price": _d(order.price), "status": order.status,
            "filled_quantity": _d(order.filled_quantity), "average_price": _d(order.average_fill_price),
            "purpose": order.reason, "error": order.last_error, "time": order.created_at.isoformat()}


def bot_detail(bot: Bot) -> dict[str, Any]:
    """One bot (already loaded through the ownership gate): its row, recent orders, fills for chart
    markers, stop-loss/take-profit lines and the event log."""
    position = Position.objects.filter(bot=bot).open().first()
    realized = Position.objects.filter(bot=bot).aggregate(t=Sum("realized_pnl"))["t"] or Decimal(0)
    row = _bot_row(bot, position, realized, last_prices([bot.pk]).get(bot.pk))
    orders = [_order_dict(o) for o in Order.objects.filter(bot=bot).order_by("-created_at", "-id")[:RECENT_ORDERS]]
    recent_fills = Fill.objects.filter(order__bot=bot).select_related("order").order_by("-time", "-id")
    fills = [{"client_order_id": f.order.client_order_id, "side": f.order.side, "price": _d(f.price),
              "quantity": _d(f.quantity), "time": f.time.isoformat()} for f in recent_fills[:RECENT_FILLS]]
    log = [{"kind": e.kind, "message": e.message, "time": e.time.isoformat()}
           for e in BotEvent.objects.filter(bot=bot).order_by("-time", "-id")[:RECENT_EVENTS]]
    return {"bot": row, "orders": orders, "fills": fills[::-1], "events": log,
            "params": events.json_safe(bot.params)}
