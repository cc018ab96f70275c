"""Group names and typed payloads for live updates; the only code that calls ``group_send``.

Groups are per owner, per bot or per market, never global. Pushes made inside a transaction go
out on commit. Delivery is at most once: pages load a snapshot over HTTP and apply pushes on top.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from cluster.leases import holder_channel
from marketdata.consumers import FEED_HEALTH_GROUP

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def bot_group(bot_id: int) -> str:
    return f"bot.{bot_id}"


def market_group(exchange: str, symbol: str) -> str:
    """``market.binance.BTC-USDT``: channel-layer group names allow only [A-Za-z0-9_.-]."""
    return f"market.{exchange}.{_UNSAFE.sub('-', symbol)}"


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


class EngineControl(TypedDict):
    type: Literal["engine.control"]
    action: Literal["start", "stop", "pause", "resume", "reload"]
    bot_id: int


def bot_status_payload(bot_id: int, status: str, reason: str = "") -> BotStatusPayload:
    return {"type": "bot.status", "bot_id": bot_id, "status": status, "reason": reason}


def bot_event_payload(bot_id: int, kind: str, message: str, time_iso: str) -> BotEventPayload:
    return {"type": "bot.event", "bot_id": bot_id, "kind": kind, "message": message, "time": time_iso}


def _send(group: str, payload: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, payload)
    except Exception:  # a push is best effort: never let a broken layer fail the write behind it
        log.warning("group_send to %s failed", group, exc_info=True)


def publish_to_owner(owner_id: int, bot_id: int | None, payload: dict[str, Any]) -> None:
    """Send ``payload`` to the owner's group (and the bot's group) once the transaction commits."""
    groups = [user_group(owner_id)] + ([bot_group(bot_id)] if bot_id is not None else [])

    def send() -> None:
        for group in groups:
            _send(group, payload)

    transaction.on_commit(send)


def send_engine_control(action: str, bot_id: int) -> None:
    """Tell the engine (on its named channel) to act on a bot, once the transaction commits."""
    message: EngineControl = {"type": "engine.control", "action": action, "bot_id": bot_id}  # type: ignore[typeddict-item]

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            # To the engine worker that holds the bot's lease; the shared channel when nobody does.
            channel = holder_channel("bot", str(bot_id), settings.ENGINE_CONTROL_CHANNEL)
            async_to_sync(layer.send)(channel, message)
        except ChannelFull:
            # No engine is reading (it is down); at its next start it resumes from the database.
            log.warning("engine control channel full; %s for bot %s will apply at engine start", action, bot_id)

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
    realized_pnl: str
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
        text = format(value, "f")  # exact, fixed point, without the trailing zeros of a scaled column
        return text.rstrip("0").rstrip(".") if "." in text else text
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
    from django.utils import timezone

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
    """Accepts the engine's position dict (avg_entry, stop_price, trail_high ...) or the model's names."""
    def pick(*names: str) -> str | None:
        for name in names:
            if data.get(name) is not None:
                return _text(data[name])
        return None

    return {"type": "bot.position", "bot_id": bot_id, "quantity": pick("quantity") or "0",
            "average_entry": pick("average_entry", "avg_entry"), "realized_pnl": pick("realized_pnl") or "0",
            "unrealized_pnl": pick("unrealized_pnl"), "stop_loss_price": pick("stop_loss_price", "stop_price"),
            "take_profit_price": pick("take_profit_price"),
            "trailing_stop_price": pick("trailing_stop_price", "trail_stop_price")}


def event_message(kind: str, data: dict[str, Any]) -> str:
    """One readable line for the event log from an engine event's data (also the ``BotEvent`` text)."""
    def t(key: str) -> str:
        value = data.get(key)
        if isinstance(value, str):  # the engine's durable dicts carry amounts as text already
            try:
                value = Decimal(value)
            except ArithmeticError:
                return value
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
        entry = t("avg_entry") or t("average_entry")
        return t("quantity") + (f" @ {entry}" if entry else "") + f", realised {t('realized_pnl') or 0}"
    if kind == "status":
        return t("status") + (f": {t('reason')}" if data.get("reason") else "")
    return str(data.get("message") or data.get("reason") or kind)


_event_message = event_message  # the engine store's name for it


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


def owner_groups(owner_id: int, bot_id: int | None) -> list[str]:
    """The groups a bot's update goes to: its owner's and its own."""
    return [user_group(owner_id)] + ([bot_group(bot_id)] if bot_id is not None else [])


async def apublish(groups: Iterable[str], payload: dict[str, Any]) -> None:
    """``group_send`` from async code (the engine's loop); best effort, never raises."""
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            await layer.group_send(group, payload)
        except Exception:  # a push is best effort: the page's snapshot is the truth
            log.warning("group_send to %s failed", group, exc_info=True)


async def apublish_engine_event(owner_id: int, bot_id: int, kind: str, data: dict[str, Any]) -> None:
    """Publish one engine event to the owner's and the bot's groups (async; for the engine host).

    A price is also remembered for page snapshots (the last price and the chart's closed candles),
    so a page loaded between two pushes shows it (the engine sends about one price a second per bot)."""
    payload = engine_payload(bot_id, kind, data)
    if kind == "price":
        from .services.snapshots import remember_price

        try:
            await remember_price(payload)
        except Exception:
            log.debug("price not remembered", exc_info=True)
    await apublish(owner_groups(owner_id, bot_id), payload)


def publish_engine_event(owner_id: int, bot_id: int, kind: str, data: dict[str, Any]) -> None:
    """Sync twin of ``apublish_engine_event`` for threads (e.g. the engine's writer thread)."""
    async_to_sync(apublish_engine_event)(owner_id, bot_id, kind, data)


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

    Called by the host of the market-data manager about once a second. The snapshot is kept in
    Django's cache under the group's name (shared across processes when the cache is shared)."""
    payload = feed_health_payload(metrics)
    try:
        from django.core.cache import cache

        await cache.aset(FEED_HEALTH_GROUP, payload["exchanges"], 30)
    except Exception:
        log.debug("feed health not cached", exc_info=True)
    await apublish([FEED_HEALTH_GROUP], dict(payload))


# --- Coalescing: at most a few frames per second per browser -------------------------------------
COALESCE_INTERVAL = 0.25  # seconds between frames to one socket: at most 4 per second

# Payload types where only the newest matters per bot (a newer price replaces an unsent one).
_LATEST_ONLY = {"bot.price", "bot.position", "bot.status", "feeds.health"}
_MAX_PENDING = 200  # unsent log/order items kept per socket; older ones are dropped (snapshot heals)


class Coalescer:
    """Collects pushes for one socket and releases them as one batch at most every ``interval``.

    Leading edge: the first push after a quiet interval goes out at once (low latency); pushes
    that arrive within the interval are merged and go out together when it ends. Prices, positions
    and statuses keep only the newest per bot; orders keep the newest per client order id; log
    lines are kept in order, capped. Pure: the consumer owns the timer.
    """

    def __init__(self, interval: float = COALESCE_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last_sent = -1e18
        self._pending: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.dropped = 0

    def add(self, payload: dict[str, Any]) -> float | None:
        """Queue a payload. Returns the delay (s) after which ``flush`` should run, 0 for now."""
        kind = payload.get("type", "")
        if kind in _LATEST_ONLY:
            key: tuple[Any, ...] = (kind, payload.get("bot_id"))
        elif kind == "bot.order":
            key = (kind, payload.get("client_order_id"))
        else:
            key = (kind, len(self._pending), self.clock(), id(payload))
        self._pending.pop(key, None)  # re-insert so the newest version keeps arrival order
        self._pending[key] = payload
        if len(self._pending) > _MAX_PENDING:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self.dropped += 1
        return max(0.0, self.last_sent + self.interval - self.clock())

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> list[dict[str, Any]]:
        """Take every queued payload (in arrival order) and start a new interval."""
        items = list(self._pending.values())
        self._pending.clear()
        if items:
            self.last_sent = self.clock()
        return items
