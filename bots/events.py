"""Group names and typed payloads for live updates; the only code that calls ``group_send``.

Groups are per owner, per bot or per market, never global. Pushes made inside a transaction go
out on commit. Delivery is at most once: pages load a snapshot over HTTP and apply pushes on top.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal, TypedDict

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

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
            async_to_sync(layer.send)(settings.ENGINE_CONTROL_CHANNEL, message)
        except ChannelFull:
            # No engine is reading (it is down); at its next start it resumes from the database.
            log.warning("engine control channel full; %s for bot %s will apply at engine start", action, bot_id)

    transaction.on_commit(send)
