"""What the engine writes about its bots: status, heartbeats and the audit log (no pushes here:
the engine publishes its own events on its loop; these run in its writer thread)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import events
from ..models import Bot, BotEvent, BotStatus
from .notifications import notify_status


def apply_engine_status(bot_id: int, status: str, reason: str = "", applied_seq: int | None = None) -> int:
    """Record the status the engine put a bot in (its ``status`` event is logged separately); an
    error, or a pause the person did not ask for, is a notification.

    ``applied_seq``: the newest request (``Bot.control_seq``) the engine had applied to the bot. A
    row holding a newer one keeps it (the request is still to be applied, by its message or by the
    next lease round): an engine's late write never erases what a person asked for after it. An
    error is always recorded.

    A bot the engine (re)starts running is alive now: the heartbeat goes with the status, so the
    watchdog never takes a bot just resumed after a restart for one whose engine is still down."""
    fields: dict[str, Any] = {"status": status, "status_reason": reason[:255]}
    if status == BotStatus.RUNNING:
        fields["heartbeat_at"] = timezone.now()
    rows = Bot.objects.filter(pk=bot_id)
    if applied_seq is not None and status != BotStatus.ERROR:
        rows = rows.filter(control_seq__lte=applied_seq)
    changed = rows.update(**fields)
    if changed:
        notify_status(bot_id, status, reason)
    return changed


def touch_heartbeats(bot_ids: list[int], at: datetime) -> int:
    """The engine's heartbeat for many bots at once."""
    return Bot.objects.filter(pk__in=bot_ids).update(heartbeat_at=at)


def record_engine_events(rows: list[tuple[int, str, dict[str, Any]]]) -> None:
    """Append engine events (bot id, kind, data) to the bots' audit logs in one insert."""
    with transaction.atomic(savepoint=False):
        BotEvent.objects.bulk_create([
            BotEvent(bot_id=bot_id, kind=kind[:32], message=events.event_message(kind, data)[:2000],
                     data=events.json_safe(data))
            for bot_id, kind, data in rows
        ])

