"""Position writer for the engine: one open row per bot and market, closed when it goes flat."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from marketdata.feeds.serialize import decimal_text

from ..models import Position
from .rows import position_data, set_position_columns


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def save_position(bot_id: int, market_id: int, data: dict[str, Any]) -> Position | None:
    """Write the engine's position (``Position.to_dict()``): update the open row, open one, or close it."""
    with transaction.atomic():
        row = Position.objects.select_for_update().filter(bot_id=bot_id, market_id=market_id,
                                                          closed_at__isnull=True).first()
        return write_position(row, data, bot_id=bot_id, market_id=market_id)


def write_position(row: Position | None, data: dict[str, Any], *, bot_id: int, market_id: int) -> Position | None:
    """Put the engine's durable form on the bot's open row (locked by the caller), opening one for a
    new position and closing it when it went flat; None when flat with no open row."""
    quantity = Decimal(str(data.get("quantity") or 0))
    if row is None:
        if quantity <= 0:
            return None
        row = Position(bot_id=bot_id, market_id=market_id, opened_at=_time(data.get("opened_at")) or timezone.now())
        set_position_columns(row, data)
        row.save(force_insert=True)
        return row
    fields = set_position_columns(row, data)
    if quantity <= 0:
        row.closed_at = _time(data.get("closed_at")) or timezone.now()
        fields.append("closed_at")
    row.save(update_fields=[*fields, "updated_at"])
    return row


def engine_position(bot_id: int, market_id: int) -> dict[str, Any] | None:
    """The bot's open position in the engine's durable form, with the bot's total realised P&L."""
    rows = list(Position.objects.filter(bot_id=bot_id, market_id=market_id).order_by("-opened_at", "-id"))
    if not rows:
        return None
    total = sum((r.realized_pnl for r in rows), Decimal(0))
    today = timezone.now().date()
    # Today's realised P&L (for the daily-loss limit across a restart): positions closed today and
    # the open one if it was opened today.
    today_pnl = sum((r.realized_pnl for r in rows if (r.closed_at or r.opened_at).date() == today), Decimal(0))
    current = next((r for r in rows if r.closed_at is None), None)
    totals = {"realized_total": decimal_text(total), "realized_today": decimal_text(today_pnl)}
    if current is None:
        return {"quantity": "0", **totals}
    return {**position_data(current), **totals}
