"""The one mapping between the engine's types and the rows: a ``Bot`` as a ``BotSpec``, an ``Order`` row
and the engine's ``Order`` both ways, the engine's ``Fill`` as a ``Fill`` row, and a ``Position`` row
and the engine's durable position form (``engine.positions.Position.to_dict``) both ways.

The engine's names are the rows' names (``average_entry``, ``stop_loss_price``, ``highest_price`` ...),
so a position maps column by column; the only renames are the order's (engine ``purpose`` and
``average_price`` are the row's ``reason`` and ``average_fill_price``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from marketdata.feeds.types import Instrument

from ..engine import types as core
from ..engine.positions import AMOUNTS
from ..models import Bot, Fill, Order, Position

# Of the position's amounts (``AMOUNTS``), the columns that are never null: missing means zero.
NOT_NULL = frozenset({"quantity", "realized_pnl", "fees"})


def risk_settings(bot: Bot) -> core.RiskSettings:
    """The bot's risk limits as the engine applies them."""
    return core.RiskSettings(
        order_size=bot.order_size, max_position=bot.max_position, stop_loss_pct=bot.stop_loss_pct,
        take_profit_pct=bot.take_profit_pct, trailing_stop_pct=bot.trailing_stop_pct,
        max_daily_loss=bot.max_daily_loss, max_open_orders=bot.max_open_orders,
        cooldown_seconds=float(bot.cooldown_seconds))


def bot_spec(bot: Bot) -> core.BotSpec:
    """The engine's view of a ``Bot`` row (with its market and exchange loaded)."""
    market = bot.market
    return core.BotSpec(
        id=bot.id, owner_id=bot.owner_id, name=bot.name, instrument=Instrument(bot.exchange.code, market.symbol),
        strategy=bot.strategy, params=dict(bot.params or {}), mode=bot.mode, capital=bot.capital,
        risk=risk_settings(bot),
        rules=core.MarketRules(market.price_tick, market.quantity_step, market.min_notional or core.ZERO,
                               market.base, market.quote),
        account_id=bot.account_id,
    )


def core_order(row: Order, instrument: Instrument) -> core.Order:
    """An ``Order`` row as the engine tracks it (with the trade ids of its stored fills)."""
    return core.Order(
        client_order_id=row.client_order_id, bot_id=row.bot_id, instrument=instrument, side=row.side,
        type=row.type, quantity=row.quantity, price=row.price, created_at=row.created_at,
        purpose=row.reason or "entry", status=row.status, exchange_order_id=row.exchange_order_id or None,
        filled_quantity=row.filled_quantity or core.ZERO, average_price=row.average_fill_price,
        fees=row.fees or core.ZERO, last_error=row.last_error,
        fill_ids={f.trade_id for f in row.fills.all()}, stop_price=row.stop_price,
    )


def new_order_row(order: core.Order, *, is_paper: bool) -> Order:
    """An unsaved ``Order`` row for the engine's new order (written before it is sent)."""
    return Order(bot_id=order.bot_id, client_order_id=order.client_order_id, side=order.side, type=order.type,
                 quantity=order.quantity, price=order.price, status=order.status, is_paper=is_paper,
                 reason=order.purpose[:32], stop_price=order.stop_price)


def order_changes(order: core.Order) -> dict[str, Any]:
    """The columns the engine's view of an order sets (status, exchange id, fill totals, error)."""
    return {"status": order.status, "exchange_order_id": order.exchange_order_id or "",
            "filled_quantity": order.filled_quantity, "average_fill_price": order.average_price,
            "fees": order.fees, "last_error": order.last_error}


def new_fill_row(order_id: int, exchange_id: int, fill: core.Fill, market_id: int | None = None) -> Fill:
    """An unsaved ``Fill`` row for one of the engine's executions (venue ids cut to the columns); without
    ``market_id`` the row takes its order's market when saved."""
    return Fill(order_id=order_id, exchange_id=exchange_id, market_id=market_id, trade_id=fill.trade_id[:64],
                price=fill.price,
                quantity=fill.quantity, fee=fill.fee, fee_asset=fill.fee_asset[:16], is_maker=fill.is_maker,
                time=fill.time)


def position_data(row: Position) -> dict[str, Any]:
    """A ``Position`` row in the engine's durable form (amounts as Decimals; ``from_dict`` takes both)."""
    data: dict[str, Any] = {name: getattr(row, name) for name in AMOUNTS}
    data.update(opened_at=row.opened_at, closed_at=row.closed_at)
    return data


def set_position_columns(row: Position, data: dict[str, Any]) -> list[str]:
    """Copy the engine's durable form onto a ``Position`` row; returns the columns it set."""
    for name in AMOUNTS:
        value = data.get(name)
        value = None if value is None else Decimal(str(value))
        setattr(row, name, core.ZERO if value is None and name in NOT_NULL else value)
    return list(AMOUNTS)
