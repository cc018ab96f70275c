"""Position writer for the engine: one open row per bot and market, closed when it goes flat."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from ..models import Fill, Position


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _t(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def recorded_fills(bot_id: int, market_id: int) -> int:
    """How many fills of the bot in this market are stored (the engine's position counts the same)."""
    return Fill.objects.filter(order__bot_id=bot_id, market_id=market_id).count()


def save_position(bot_id: int, market_id: int, data: dict[str, Any]) -> Position | None:
    """Write the engine's position (``Position.to_dict()``): update the open row, open one, or close it.
    A snapshot that has applied fewer fills than are stored is stale (reconciliation recorded a fill
    the engine has not seen; the engine reloads the bot) and is not written."""
    quantity = _d(data.get("quantity")) or Decimal(0)
    with transaction.atomic():
        row = Position.objects.select_for_update().filter(bot_id=bot_id, market_id=market_id,
                                                          closed_at__isnull=True).first()
        if "fills" in data and int(data["fills"]) < recorded_fills(bot_id, market_id):
            return row
        if row is None:
            if quantity <= 0:
                return None
            row = Position(bot_id=bot_id, market_id=market_id,
                           opened_at=_t(data.get("opened_at")) or timezone.now())
        row.quantity = quantity
        row.average_entry = _d(data.get("avg_entry"))
        row.realized_pnl = _d(data.get("realized_pnl")) or Decimal(0)
        row.fees = _d(data.get("fees")) or Decimal(0)
        row.stop_loss_price = _d(data.get("stop_price"))
        row.take_profit_price = _d(data.get("take_profit_price"))
        row.highest_price = _d(data.get("trail_high"))
        row.trailing_stop_price = _d(data.get("trail_stop_price"))
        if quantity <= 0:
            row.closed_at = _t(data.get("closed_at")) or timezone.now()
        row.save()
    return row


def engine_position(bot_id: int, market_id: int) -> dict[str, Any] | None:
    """The bot's open position in the engine's durable form, with the bot's total realised P&L."""
    rows = list(Position.objects.filter(bot_id=bot_id, market_id=market_id).order_by("-opened_at", "-id"))
    fills = recorded_fills(bot_id, market_id)
    if not rows:
        return {"quantity": "0", "fills": fills} if fills else None
    total = sum((r.realized_pnl for r in rows), Decimal(0))
    today = timezone.now().date()
    # Today's realised P&L (for the daily-loss limit across a restart): positions closed today and
    # the open one if it was opened today.
    today_pnl = sum((r.realized_pnl for r in rows if (r.closed_at or r.opened_at).date() == today), Decimal(0))
    current = next((r for r in rows if r.closed_at is None), None)
    if current is None:
        return {"quantity": "0", "realized_total": str(total), "realized_today": str(today_pnl), "fills": fills}
    return {"quantity": str(current.quantity), "avg_entry": _s(current.average_entry),
            "realized_pnl": str(current.realized_pnl), "realized_total": str(total),
            "realized_today": str(today_pnl), "fees": str(current.fees),
            "stop_price": _s(current.stop_loss_price), "take_profit_price": _s(current.take_profit_price),
            "trail_high": _s(current.highest_price), "opened_at": current.opened_at, "fills": fills}


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
