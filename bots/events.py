"""Group names and typed payloads for live updates; the only code that calls ``group_send``.

Groups are per owner, per bot or per market, never global. Pushes made inside a transaction go
out on commit. Delivery is at most once: pages load a snapshot over HTTP and apply pushes on top.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, NotRequired, TypedDict, cast, get_args

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cluster.leases import holder_channel, worker_channels
from marketdata.feeds.serialize import decimal_text
from marketdata.health import FEED_HEALTH_GROUP, remember_feed_health

from .price_memory import remember_price

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def bot_group(bot_id: int) -> str:
    return f"bot.{bot_id}"


def owner_groups(owner_id: int, bot_id: int | None) -> list[str]:
    """The groups a bot's update goes to: its owner's and its own."""
    return [user_group(owner_id)] + ([bot_group(bot_id)] if bot_id is not None else [])


class BotStatusPayload(TypedDict):
    type: Literal["bot.status"]
    bot_id: int
    status: str
    reason: str


class BotEventPayload(TypedDict):
    type: Literal["bot.event"]
    bot_id: int
    kind: str
    message: str
    time: str


# resync: reconciliation wrote fills, statuses or a position under a hosted bot; the engine reloads them.
# close: sell a stopped bot's leftover position (the engine hosts it paused, then sells).
EngineAction = Literal["start", "stop", "pause", "resume", "reload", "limits", "resync", "close"]
ENGINE_ACTIONS: frozenset[str] = frozenset(get_args(EngineAction))


class EngineControl(TypedDict):
    type: Literal["engine.control"]
    action: EngineAction
    bot_id: int
    owner_id: NotRequired[int]  # "limits": whose account-wide limits changed
    seq: NotRequired[int]  # the request's number (``Bot.control_seq``): an older one never overrides a newer


def bot_status_payload(bot_id: int, status: str, reason: str = "") -> BotStatusPayload:
    return {"type": "bot.status", "bot_id": bot_id, "status": status, "reason": reason}


def bot_event_payload(bot_id: int, kind: str, message: str, time_iso: str) -> BotEventPayload:
    return {"type": "bot.event", "bot_id": bot_id, "kind": kind, "message": message, "time": time_iso}


class _PushHealth:
    """Pushes failing because the layer is down (Redis restarting) are logged once per outage, not
    once per push with a traceback each: the engine pushes several a second per bot."""

    failed = 0

    def failure(self, group: str, exc: BaseException) -> None:
        self.failed += 1
        if self.failed == 1:
            log.warning("group_send to %s failed (%r); pushes are dropped until the layer answers", group, exc)
        else:
            log.debug("group_send to %s failed", group, exc_info=True)

    def success(self) -> None:
        if self.failed:
            log.warning("group_send works again after %d dropped push(es)", self.failed)
            self.failed = 0


_pushes = _PushHealth()


def _send(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, payload)
    except Exception as exc:  # a push is best effort: never let a broken layer fail the write behind it
        _pushes.failure(group, exc)
    else:
        _pushes.success()


def publish_to_owner(owner_id: int, bot_id: int | None, payload: dict[str, Any]) -> None:
    """Send ``payload`` to the owner's group (and the bot's group) once the transaction commits."""
    def send() -> None:
        for group in owner_groups(owner_id, bot_id):
            _send(group, payload)

    transaction.on_commit(send)


class BacktestPayload(TypedDict):
    type: Literal["bot.backtest"]
    run_id: int
    sweep_id: int | None
    status: str
    progress: float
    params: dict[str, Any]
    summary: dict[str, Any]
    oos_summary: dict[str, Any]
    error: str


class SweepPayload(TypedDict):
    type: Literal["bot.sweep"]
    sweep_id: int
    status: str


def backtest_payload(run: Any) -> BacktestPayload:
    return {"type": "bot.backtest", "run_id": run.pk, "sweep_id": run.sweep_id, "status": run.status,
            "progress": round(run.progress, 4), "params": json_safe(run.params), "summary": json_safe(run.summary),
            "oos_summary": json_safe(run.oos_summary), "error": run.error}


def publish_backtest(run: Any) -> None:
    """A run's status, progress or result to its owner's group (on commit)."""
    publish_to_owner(run.owner_id, None, dict(backtest_payload(run)))


def publish_sweep(sweep: Any) -> None:
    """A sweep's status to its owner's group (on commit)."""
    payload: SweepPayload = {"type": "bot.sweep", "sweep_id": sweep.pk, "status": sweep.status}
    publish_to_owner(sweep.owner_id, None, dict(payload))


def send_engine_control(action: str, bot_id: int, *, owner_id: int | None = None, seq: int | None = None,
                        undelivered: Callable[[str], None] | None = None) -> None:
    """Tell the engine (on its named channel) to act on a bot (or, with ``owner_id``, on a user's
    account-wide limits), once the transaction commits.

    The database already holds the desired state, so a message the layer cannot take (Redis down,
    channel full) is not lost: the engine re-reads the desired statuses when its layer comes back
    (and at start). The failure never fails the request that committed: it is logged and handed to
    ``undelivered`` (the caller records it where the owner sees it)."""
    if action not in ENGINE_ACTIONS:
        raise ValueError(f"unknown engine action {action!r}")
    message: EngineControl = {"type": "engine.control", "action": cast(EngineAction, action), "bot_id": bot_id}
    if owner_id is not None:
        message["owner_id"] = owner_id
    if seq is not None:
        message["seq"] = seq

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            # To the engine worker that holds the bot's lease, the shared channel when nobody does;
            # an owner-wide message (limits) to every live engine worker.
            if owner_id is not None:
                channels = worker_channels("engine") or [settings.ENGINE_CONTROL_CHANNEL]
            else:
                channels = [holder_channel("bot", str(bot_id), settings.ENGINE_CONTROL_CHANNEL)]
            for channel in channels:
                async_to_sync(layer.send)(channel, message)
        except ChannelFull:
            # No engine is reading (it is down); at its next start it resumes from the database.
            log.warning("engine control channel full; %s for bot %s will apply at engine start", action, bot_id)
        except Exception as exc:  # the layer's backend is unreachable (Redis restarting)
            log.warning("engine control %s for bot %s not delivered (%r); the engine applies the saved "
                        "status when its channel layer reconnects", action, bot_id, exc)
            if undelivered is not None:
                undelivered(f"{type(exc).__name__}: {exc}"[:200])

    transaction.on_commit(send)


# --- Engine events -> typed browser payloads ------------------------------------------------------
# The engine's EventSink emits (kind, data) per bot; ``engine_payload`` turns that into one of the
# typed payloads below, JSON-safe (Decimals as text, times as ISO 8601), ready for ``group_send``.


class BotPricePayload(TypedDict):
    type: Literal["bot.price"]
    bot_id: int
    price: str
    bid: str | None
    ask: str | None
    time: str


class BotOrderPayload(TypedDict):
    type: Literal["bot.order"]
    bot_id: int
    client_order_id: str
    side: str
    order_type: str
    quantity: str
    price: str | None
    status: str
    filled_quantity: str
    average_price: str | None
    purpose: str
    error: str
    time: str


class BotFillPayload(TypedDict):
    type: Literal["bot.fill"]
    bot_id: int
    client_order_id: str
    side: str
    price: str
    quantity: str
    time: str


class BotPositionPayload(TypedDict):
    type: Literal["bot.position"]
    bot_id: int
    quantity: str
    average_entry: str | None
    realized_pnl: str  # of this position
    realized_total: str | None  # of the bot, over all its positions (what its P&L shows)
    unrealized_pnl: str | None
    stop_loss_price: str | None
    take_profit_price: str | None
    trailing_stop_price: str | None


class FeedHealthPayload(TypedDict):
    type: Literal["feeds.health"]
    exchanges: dict[str, Any]


def _text(value: Any) -> str | None:
    """A JSON-safe scalar: Decimal as its exact text, datetime as ISO 8601, None kept."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def json_safe(value: Any) -> Any:
    """A deep copy of ``value`` with Decimals and datetimes as text (what a WebSocket can carry)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Decimal | datetime):
        return _text(value)
    return value


def _now_iso() -> str:
    return timezone.now().isoformat()


def bot_price_payload(bot_id: int, price: Any, bid: Any = None, ask: Any = None, time_: Any = None) -> BotPricePayload:
    return {"type": "bot.price", "bot_id": bot_id, "price": _text(price) or "", "bid": _text(bid),
            "ask": _text(ask), "time": _text(time_) or _now_iso()}


def bot_order_payload(bot_id: int, data: dict[str, Any]) -> BotOrderPayload:
    return {"type": "bot.order", "bot_id": bot_id, "client_order_id": str(data.get("client_order_id", "")),
            "side": str(data.get("side", "")), "order_type": str(data.get("type") or data.get("order_type") or ""),
            "quantity": _text(data.get("quantity")) or "0", "price": _text(data.get("price")),
            "status": str(data.get("status", "")), "filled_quantity": _text(data.get("filled_quantity")) or "0",
            "average_price": _text(data.get("average_price")), "purpose": str(data.get("purpose") or ""),
            "error": str(data.get("error") or ""), "time": _text(data.get("time")) or _now_iso()}


def bot_fill_payload(bot_id: int, data: dict[str, Any]) -> BotFillPayload:
    return {"type": "bot.fill", "bot_id": bot_id, "client_order_id": str(data.get("client_order_id", "")),
            "side": str(data.get("side", "")), "price": _text(data.get("price")) or "",
            "quantity": _text(data.get("quantity")) or "", "time": _text(data.get("time")) or _now_iso()}


def bot_position_payload(bot_id: int, data: dict[str, Any]) -> BotPositionPayload:
    """From the engine's durable position form or a ``Position`` row's values (the same names)."""
    def pick(*names: str) -> str | None:
        for name in names:
            if data.get(name) is not None:
                return _text(data[name])
        return None

    return {"type": "bot.position", "bot_id": bot_id, "quantity": pick("quantity") or "0",
            "average_entry": pick("average_entry"), "realized_pnl": pick("realized_pnl") or "0",
            "realized_total": pick("realized_total"), "unrealized_pnl": pick("unrealized_pnl"),
            "stop_loss_price": pick("stop_loss_price"), "take_profit_price": pick("take_profit_price"),
            "trailing_stop_price": pick("trailing_stop_price")}


def event_message(kind: str, data: dict[str, Any]) -> str:
    """One readable line for the event log from an engine event's data (also the ``BotEvent`` text)."""
    def t(key: str) -> str:
        value = data.get(key)
        if isinstance(value, str):  # the engine's durable dicts carry amounts as text already
            try:
                return _text(Decimal(value)) or ""
            except ArithmeticError:
                return value
        if isinstance(value, Decimal) and value.is_finite():
            # A line for people: quote P&L in cents, other amounts to 8 significant digits (an
            # average entry or a fee has a dozen decimals the log need not show). Rows keep them all.
            if key == "realized_pnl":
                value = value.quantize(Decimal("0.01"))
            elif value and value.adjusted() < 20:
                value = value.quantize(Decimal(1).scaleb(min(0, value.adjusted() - 7)))
        return _text(value) or ""

    if kind == "signal":
        return f"{t('side')}: {t('reason')}".strip()
    if kind == "risk":
        if data.get("approved"):
            return f"approved {t('side')} {t('quantity')}".strip()
        reasons = data.get("reasons") or [data.get("reason", "")]
        return "rejected: " + "; ".join(str(r) for r in reasons)
    if kind == "order":
        price = t("average_price") or t("price")
        text = f"{t('side')} {t('quantity')} {t('type')} {t('status')}" + (f" @ {price}" if price else "")
        return text + (f" ({t('error')})" if data.get("error") else "")
    if kind == "fill":
        return f"{t('side')} {t('quantity')} @ {t('price')}" + (f" fee {t('fee')} {t('fee_asset')}".rstrip()
                                                                     if data.get("fee") else "")
    if kind == "position":
        entry = t("average_entry")
        return t("quantity") + (f" @ {entry}" if entry else "") + f", realised {t('realized_pnl') or 0}"
    if kind == "status":
        return t("status") + (f": {t('reason')}" if data.get("reason") else "")
    return str(data.get("message") or data.get("reason") or kind)


def engine_payload(bot_id: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The typed browser payload for one engine event (``price``, ``order``, ``fill``, ``position``,
    ``status``; anything else becomes a ``bot.event`` line for the log)."""
    if kind == "price":
        return dict(bot_price_payload(bot_id, data.get("price"), data.get("bid"), data.get("ask"), data.get("time")))
    if kind == "order":
        return dict(bot_order_payload(bot_id, data))
    if kind == "fill":
        return dict(bot_fill_payload(bot_id, data))
    if kind == "position":
        return dict(bot_position_payload(bot_id, data))
    if kind == "status":
        return dict(bot_status_payload(bot_id, str(data.get("status", "")), str(data.get("reason") or "")))
    return dict(bot_event_payload(bot_id, kind, event_message(kind, data), _text(data.get("time")) or _now_iso()))


async def apublish(groups: Iterable[str], payload: dict[str, Any]) -> None:
    """``group_send`` from async code (the engine's loop); best effort, never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            await layer.group_send(group, payload)
        except Exception as exc:  # a push is best effort: the page's snapshot is the truth
            _pushes.failure(group, exc)
        else:
            _pushes.success()


async def apublish_engine_event(owner_id: int, bot_id: int, kind: str, data: dict[str, Any]) -> None:
    """Publish one engine event to the owner's and the bot's groups (async; for the engine host).

    A price is also remembered for page snapshots (the last price and the chart's closed candles),
    so a page loaded between two pushes shows it (the engine sends about one price a second per bot)."""
    payload = engine_payload(bot_id, kind, data)
    if kind == "price":
        try:
            await remember_price(payload)
        except Exception:
            log.debug("price not remembered", exc_info=True)
    await apublish(owner_groups(owner_id, bot_id), payload)


def feed_health_payload(metrics: dict[str, Any]) -> FeedHealthPayload:
    """The market-data page's payload from ``MarketDataManager.metrics()``: each exchange's numbers,
    with ``latency_ms`` (exchange time -> received) the worst p50/p99 over its subscriptions."""
    exchanges = {code: dict(ex) for code, ex in json_safe(metrics.get("exchanges", {})).items()}
    for sub in metrics.get("subscriptions", []):
        ex = exchanges.get(sub.get("exchange"))
        lat = sub.get("latency_exchange_to_receive_ms") or {}
        if ex is None:
            continue
        worst = ex.setdefault("latency_ms", {"p50": None, "p99": None})
        for key in ("p50", "p99"):
            if lat.get(key) is not None:
                worst[key] = max(worst[key] or 0.0, float(lat[key]))
    return {"type": "feeds.health", "exchanges": exchanges}


async def apublish_feed_health(metrics: dict[str, Any]) -> None:
    """Keep the latest feed metrics for the page's snapshot and push them to the market-data page.

    Called by the host of the market-data manager about once a second (``marketdata.health`` keeps them)."""
    payload = feed_health_payload(metrics)
    await remember_feed_health(payload["exchanges"])
    await apublish([FEED_HEALTH_GROUP], dict(payload))


async def publish_feed_health_forever(metrics: Callable[[], dict[str, Any]], every: float = 1.0) -> None:
    """The market-data manager's host task: publish ``metrics()`` every ``every`` seconds until
    cancelled; a failed publish (channel layer or cache down) is logged and the next one tried."""
    while True:
        await asyncio.sleep(every)
        try:
            await apublish_feed_health(metrics())
        except Exception:
            log.debug("feed health publish failed", exc_info=True)
