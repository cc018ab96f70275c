"""Position writer for the engine: one open row per bot and market, closed when it goes flat."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from marketdata.feeds.serialize import decimal_text

from ..models import Fill, Position
from .rows import position_data, set_position_columns


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def recorded_fills(bot_id: int, market_id: int) -> int:
    """How many fills of the bot in this market are stored (the engine's position counts the same)."""
    return Fill.objects.filter(order__bot_id=bot_id, market_id=market_id).count()


def save_position(bot_id: int, market_id: int, data: dict[str, Any]) -> Position | None:
    """Write the engine's position (``Position.to_dict()``): update the open row, open one, or close it.
    A snapshot that has applied fewer fills than are stored is stale (reconciliation recorded a fill
    the engine has not seen; the engine reloads the bot) and is not written."""
    with transaction.atomic():
        row = Position.objects.select_for_update().filter(bot_id=bot_id, market_id=market_id,
                                                          closed_at__isnull=True).first()
        if "fills" in data and int(data["fills"]) < recorded_fills(bot_id, market_id):
            return row
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
    return _engine_position(rows, recorded_fills(bot_id, market_id))


def engine_positions(markets: dict[int, int]) -> dict[int, dict[str, Any] | None]:
    """``engine_position`` of many bots (bot id -> its market id) in two queries, whatever their number."""
    rows: dict[int, list[Position]] = defaultdict(list)
    for row in Position.objects.filter(bot_id__in=list(markets)).order_by("-opened_at", "-id"):
        if markets[row.bot_id] == row.market_id:
            rows[row.bot_id].append(row)
    fills = {(bot_id, market_id): n for bot_id, market_id, n in
             Fill.objects.filter(order__bot_id__in=list(markets)).order_by().values("order__bot_id", "market_id")
             .annotate(n=Count("id")).values_list("order__bot_id", "market_id", "n")}
    return {bot_id: _engine_position(rows[bot_id], fills.get((bot_id, market_id), 0))
            for bot_id, market_id in markets.items()}


def _engine_position(rows: list[Position], fills: int) -> dict[str, Any] | None:
    if not rows:
        return {"quantity": "0", "fills": fills} if fills else None
    total = sum((r.realized_pnl for r in rows), Decimal(0))
    today = timezone.now().date()
    # Today's realised P&L (for the daily-loss limit across a restart): positions closed today and
    # the open one if it was opened today.
    today_pnl = sum((r.realized_pnl for r in rows if (r.closed_at or r.opened_at).date() == today), Decimal(0))
    current = next((r for r in rows if r.closed_at is None), None)
    totals = {"realized_total": decimal_text(total), "realized_today": decimal_text(today_pnl)}
    if current is None:
        return {"quantity": "0", **totals, "fills": fills}
    return {**position_data(current), **totals, "fills": fills}
