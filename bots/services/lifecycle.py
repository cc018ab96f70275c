"""Bot lifecycle services: requested state changes and the audit log."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import events
from ..models import Bot, BotEvent, BotStatus
from .notifications import notify_status

log = logging.getLogger(__name__)


def create_bot_event(bot: Bot, kind: str, message: str, data: dict[str, Any] | None = None) -> BotEvent:
    """Append to the bot's audit log and push it to the owner's groups."""
    event = BotEvent.objects.create(bot=bot, kind=kind, message=message, data=data or {})
    events.publish_to_owner(
        bot.owner_id, bot.id, events.bot_event_payload(bot.id, kind, message, event.time.isoformat())
    )
    return event


def set_bot_status(bot: Bot, status: str, reason: str = "", *, actor: str = "system") -> Bot:
    """Record a status change (with its reason) on the row, in the log and on the live groups."""
    with transaction.atomic():
        bot.status = status
        bot.status_reason = reason[:255]
        bot.save(update_fields=["status", "status_reason", "updated_at"])
        message = f"{status}" + (f": {reason}" if reason else "")
        create_bot_event(bot, "status", message, {"status": status, "reason": reason, "actor": actor})
        events.publish_to_owner(bot.owner_id, bot.id, events.bot_status_payload(bot.id, status, reason))
        notify_status(bot.id, status, reason, owner_id=bot.owner_id, name=bot.name)
    return bot


def next_control_seq(bot: Bot) -> int:
    """Number a request (inside the caller's transaction): the row stays locked until it commits,
    so requests are numbered in the order they commit."""
    seq = Bot.objects.select_for_update().values_list("control_seq", flat=True).get(pk=bot.pk) + 1
    Bot.objects.filter(pk=bot.pk).update(control_seq=seq)
    bot.control_seq = seq
    return seq


def _request(bot: Bot, status: str, action: str, actor: str) -> Bot:
    with transaction.atomic():
        seq = next_control_seq(bot)
        set_bot_status(bot, status, f"requested by {actor}", actor=actor)
        events.send_engine_control(action, bot.id, seq=seq,
                                   undelivered=lambda why: control_undelivered(bot, action, why))
    return bot


def control_undelivered(bot: Bot, action: str, why: str) -> None:
    """A control message the channel layer refused: say so in the bot's log (the saved status
    still stands; the engine applies it when it reconnects)."""
    try:
        create_bot_event(bot, "control", f"{action} not delivered to the engine now ({why}); "
                         "it applies the saved status when it reconnects", {"action": action, "error": why})
    except Exception:  # the database is down too: the log lines are what remains
        log.warning("could not record the undelivered %s of bot %s", action, bot.pk, exc_info=True)


def start_bot(bot: Bot, *, actor: str = "system") -> Bot:
    """Ask the engine to start the bot: status becomes starting until the engine confirms."""
    if bot.mode == "live" and not (bot.account_id and bot.live_confirmed):
        raise ValueError("Live trading needs an exchange account and an explicit confirmation.")
    if bot.mode == "live" and bot.account.can_withdraw and not bot.account.withdraw_risk_accepted:
        raise ValueError("This account's API key can withdraw funds: use a key that cannot, or accept the risk.")
    return _request(bot, BotStatus.STARTING, "start", actor)


def stop_bot(bot: Bot, *, actor: str = "system") -> Bot:
    """Ask the engine to stop the bot."""
    return _request(bot, BotStatus.STOPPED, "stop", actor)


def pause_bot(bot: Bot, *, actor: str = "system") -> Bot:
    """Ask the engine to pause the bot: it keeps its feed and positions but places no entries."""
    return _request(bot, BotStatus.PAUSED, "pause", actor)


def resume_bot(bot: Bot, *, actor: str = "system") -> Bot:
    """Ask the engine to resume a paused bot."""
    return _request(bot, BotStatus.STARTING, "resume", actor)


CLOSING_REASON = "Closing the position"


def close_position(bot: Bot, *, actor: str = "system") -> Bot:
    """Sell a stopped bot's remaining position at market: the engine hosts the bot paused (no new
    entries) and sends the exit through the usual order path (risk, durable order, gateway)."""
    from ..models import Position

    if bot.status not in (BotStatus.STOPPED, BotStatus.ERROR):
        raise ValueError("Only a stopped bot's position is closed here; a running bot manages its own exits.")
    if not Position.objects.filter(bot=bot, quantity__gt=0).open().exists():
        raise ValueError("This bot holds no position.")
    with transaction.atomic():
        seq = next_control_seq(bot)
        set_bot_status(bot, BotStatus.PAUSED, f"{CLOSING_REASON}, requested by {actor}", actor=actor)
        events.send_engine_control("close", bot.id, seq=seq)
    return bot


def touch_heartbeat(bot_id: int) -> None:
    """The engine's heartbeat for a bot."""
    Bot.objects.filter(pk=bot_id).update(heartbeat_at=timezone.now())
