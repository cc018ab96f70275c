"""Read models for the portal's pages and their JSON snapshots (a fixed number of queries each).

A page renders from these on the server (so it works without JavaScript); the same dicts, as JSON,
are what the live client reloads on every (re)connect before it applies pushes on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import QuerySet, Sum

from marketdata.feeds.serialize import decimal_text as _d

from .. import access, events
from ..models import Bot, BotEvent, Fill, Order, OrderSide, OrderStatus, Position
from ..price_memory import candles, last_prices
from .lifecycle import CLOSING_REASON

RECENT_ORDERS = 20
RECENT_FILLS = 200
RECENT_EVENTS = 50


POSITION_FIELDS = ("quantity", "average_entry", "realized_pnl", "stop_loss_price", "take_profit_price",
                   "trailing_stop_price")
BOT_FIELDS = ("id", "name", "status", "status_reason", "mode", "strategy", "exchange__code", "market__symbol",
              "exchange__name", "market__base", "market__quote", "market__price_tick", "market__quantity_step",
              "capital")


def decimals_of(step: Decimal | None) -> int:
    """Decimal places a market's tick or step shows (``0.01`` -> 2, ``1`` -> 0): prices and
    quantities are displayed at these, never at the 12 places the database keeps."""
    if not step:
        return 8
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 8


# What a person may ask of a bot in each state (the bot page shows just these buttons).
ACTIONS_BY_STATUS = {"stopped": ("start",), "starting": ("pause", "stop"), "running": ("pause", "stop"),
                     "paused": ("resume", "stop"), "error": ("start", "stop")}


def bot_actions(status: str, holding: bool) -> tuple[str, ...]:
    """The buttons for a bot in ``status``; a stopped (or failed) bot still holding coins may close them."""
    actions = ACTIONS_BY_STATUS.get(status, ())
    return (*actions, "close") if holding and status in ("stopped", "error") else actions


def allowed_actions(bot: Bot) -> tuple[str, ...]:
    """The actions the bot's page offers right now (one query)."""
    holding = Position.objects.filter(bot=bot, quantity__gt=0).open().exists()
    return bot_actions(bot.status, holding)


def market_label(symbol: str, exchange_name: str) -> str:
    """A market's one name on every page: ``BTC/USDT @ Binance``."""
    return f"{symbol} @ {exchange_name}"


def _realized_by_bot(positions: QuerySet) -> dict[int, Decimal]:
    """Realised P&L summed per bot, exactly: PostgreSQL sums numerics; SQLite would sum the text
    column as floats, so there the rows are summed here as Decimals."""
    if connection.vendor == "postgresql":
        return dict(positions.order_by().values_list("bot_id").annotate(total=Sum("realized_pnl")))
    totals: dict[int, Decimal] = {}
    for bot_id, value in positions.values_list("bot_id", "realized_pnl").iterator():
        totals[bot_id] = totals.get(bot_id, Decimal(0)) + value
    return totals


def _position_dict(position: dict[str, Any] | None) -> dict[str, Any] | None:
    if position is None:
        return None
    return {k: _d(position[k]) for k in POSITION_FIELDS}


def _bot_row(bot: dict[str, Any], position: dict[str, Any] | None, realized: Decimal,
             price: dict[str, Any] | None) -> dict[str, Any]:
    """One bot's row: realised P&L over all its positions, unrealised on the open one at the last price."""
    last = Decimal(price["price"]) if price and price.get("price") else None
    unrealized = None
    if position and position["quantity"] and position["average_entry"] is not None and last is not None:
        unrealized = (last - position["average_entry"]) * position["quantity"]
    pnl = realized + (unrealized or 0)
    capital = bot["capital"]
    holding = bool(position and position["quantity"])
    return {
        "id": bot["id"], "name": bot["name"], "status": bot["status"], "status_reason": bot["status_reason"],
        "mode": bot["mode"], "exchange": bot["exchange__code"], "symbol": bot["market__symbol"],
        "market": market_label(bot["market__symbol"], bot["exchange__name"]),
        "base": bot["market__base"], "quote": bot["market__quote"],
        "price_dp": decimals_of(bot["market__price_tick"]), "qty_dp": decimals_of(bot["market__quantity_step"]),
        "strategy": bot["strategy"], "position": _position_dict(position), "capital": _d(capital),
        "last_price": _d(last), "price_time": price.get("time") if price else None,
        "realized_pnl": _d(realized), "unrealized_pnl": _d(unrealized), "pnl": _d(pnl),
        "pnl_pct": format((pnl * 100 / capital).quantize(Decimal("0.01")), "f") if capital else None,
        "actions": list(bot_actions(bot["status"], holding)),
        "holding_while_stopped": holding and bot["status"] in ("stopped", "error"),
        "closed_on_request": not holding and bot["status"] == "paused"
        and bot["status_reason"].startswith(CLOSING_REASON),
    }


def dashboard(user: object) -> dict[str, Any]:
    """Every bot of the user with status, mode, position, last price and P&L: three queries.

    Plain values, not model instances: with 100 bots, building 400 instances cost more than the queries."""
    bots = list(access.bots_for_user(user).order_by("name", "id").values(*BOT_FIELDS))
    if not bots:
        return {"bots": []}
    mine = Position.objects.filter(bot__owner=user)
    positions = {p["bot_id"]: p for p in mine.open().values("bot_id", *POSITION_FIELDS)}
    realized = _realized_by_bot(mine)
    prices = last_prices([b["id"] for b in bots])
    return {"bots": [_bot_row(b, positions.get(b["id"]), realized.get(b["id"]) or Decimal(0), prices.get(b["id"]))
                     for b in bots]}


def _order_dict(order: Order) -> dict[str, Any]:
    return {"client_order_id": order.client_order_id, "side": order.side, "order_type": order.type,
            "quantity": _d(order.quantity), "price": _d(order.price), "status": order.status,
            "filled_quantity": _d(order.filled_quantity), "average_price": _d(order.average_fill_price),
            "purpose": order.reason, "error": order.last_error, "time": order.created_at.isoformat()}


def bot_chart(bot: Bot) -> dict[str, Any]:
    """What the bot's price chart draws: its candles, the fills as markers, and its open position's
    exit levels (the shape of ``bot_detail``, so one renderer serves both)."""
    position = Position.objects.filter(bot=bot).open().values(*POSITION_FIELDS).first()
    return {"bot": {"position": _position_dict(position), "price_dp": decimals_of(bot.market.price_tick)},
            "fills": _chart_fills(bot), "candles": candles(bot.pk)}


def _chart_fills(bot: Bot) -> list[dict[str, Any]]:
    """The bot's recent fills, oldest first."""
    recent = Fill.objects.filter(order__bot=bot).select_related("order").order_by("-time", "-id")[:RECENT_FILLS]
    return [{"client_order_id": f.order.client_order_id, "side": f.order.side, "price": _d(f.price),
             "quantity": _d(f.quantity), "time": f.time.isoformat()} for f in recent][::-1]


def bot_detail(bot: Bot) -> dict[str, Any]:
    """One bot (already loaded through the ownership gate): its row, recent orders, fills for chart
    markers, stop-loss/take-profit lines and the event log."""
    position = Position.objects.filter(bot=bot).open().values(*POSITION_FIELDS).first()
    realized = _realized_by_bot(Position.objects.filter(bot=bot)).get(bot.pk, Decimal(0))
    market = bot.market
    values = {"id": bot.pk, "name": bot.name, "status": bot.status, "status_reason": bot.status_reason,
              "mode": bot.mode, "strategy": bot.strategy, "exchange__code": bot.exchange.code,
              "market__symbol": market.symbol, "exchange__name": bot.exchange.name, "market__base": market.base,
              "market__quote": market.quote, "market__price_tick": market.price_tick,
              "market__quantity_step": market.quantity_step, "capital": bot.capital}
    row = _bot_row(values, position, realized, last_prices([bot.pk]).get(bot.pk))
    orders = [_order_dict(o) for o in Order.objects.filter(bot=bot).order_by("-created_at", "-id")[:RECENT_ORDERS]]
    log = [{"kind": e.kind, "message": e.message, "time": e.time.isoformat()}
           for e in BotEvent.objects.filter(bot=bot).order_by("-time", "-id")[:RECENT_EVENTS]]
    return {"bot": row, "orders": orders, "fills": _chart_fills(bot), "events": log, "candles": candles(bot.pk),
            "params": events.json_safe(bot.params)}


ORDERS_PAGE_SIZE = 50


def orders_page(user: object, filters: Mapping[str, Any]) -> dict[str, Any]:
    """One page of the user's orders for the orders page: filters already validated by the view's
    form (``bot`` and ``before`` ints, ``status`` and ``side`` choices; a bot that is not the user's
    is ignored) and keyset paging (``before`` an order id), in a fixed number of queries.

    Keyset, not page numbers: "older than order N" is one index range scan at any depth, where an
    OFFSET page and its total count read every order of the user (a third of the page's time at
    100,000 orders). Newest first by id (ids grow with creation): the primary key serves the order
    and the limit, where ("-created_at", "-id") sorted every order of the user (0.8 s at 100,000)."""
    qs = access.orders_for_user(user).order_by("-id")
    bots = list(access.bots_for_user(user).values("id", "name", "market__symbol", "exchange__name",
                                                   "market__price_tick", "market__quantity_step"))
    for b in bots:
        b["market"] = market_label(b["market__symbol"], b["exchange__name"])
        b["price_dp"], b["qty_dp"] = decimals_of(b["market__price_tick"]), decimals_of(b["market__quantity_step"])
    by_id = {b["id"]: b for b in bots}
    bot_id = filters.get("bot")
    chosen = {"bot": str(bot_id) if bot_id in by_id else "",
              "status": filters.get("status") if filters.get("status") in OrderStatus.values else "",
              "side": filters.get("side") if filters.get("side") in OrderSide.values else ""}
    if chosen["bot"]:
        qs = qs.filter(bot_id=bot_id)
    if chosen["status"]:
        qs = qs.filter(status=chosen["status"])
    if chosen["side"]:
        qs = qs.filter(side=chosen["side"])
    before = filters.get("before")
    if isinstance(before, int):
        qs = qs.filter(id__lt=before)
    rows = list(qs[:ORDERS_PAGE_SIZE + 1])
    older = rows[ORDERS_PAGE_SIZE - 1].pk if len(rows) > ORDERS_PAGE_SIZE else None
    rows = rows[:ORDERS_PAGE_SIZE]
    for order in rows:  # the bots are loaded already: no join in the page query
        order.bot_info = by_id[order.bot_id]
    return {"orders": rows, "older": older, "is_first": before is None, "bots": bots, "chosen": chosen,
            "query": urlencode({k: v for k, v in chosen.items() if v}),  # only validated values go into links
            "statuses": OrderStatus.choices, "sides": OrderSide.choices}
