"""Portal writers: bots created or edited from the form, exchange accounts added or removed.

Forms validate and hand their cleaned data here; these are the only places the portal writes.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from .. import events
from ..models import Bot, BotStatus, ExchangeAccount
from .lifecycle import create_bot_event

BOT_FIELDS = (
    "name", "market", "account", "strategy", "params", "mode", "live_confirmed", "capital", "order_size",
    "max_position", "stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "max_daily_loss",
    "max_open_orders", "cooldown_seconds",
)


class AccountInUse(Exception):
    """The account still has bots; remove or re-point them first."""


def _apply(bot: Bot, data: dict[str, Any]) -> list[str]:
    changed = []
    for name in BOT_FIELDS:
        if name in data and (bot._state.adding or getattr(bot, name) != data[name]):
            setattr(bot, name, data[name])
            changed.append(name)
    if "market" in changed:
        bot.exchange = bot.market.exchange
        changed.append("exchange")
    if bot.mode != "live":
        bot.live_confirmed = False
        if "live_confirmed" not in changed:
            changed.append("live_confirmed")
    return changed


@transaction.atomic
def create_bot(owner: Any, data: dict[str, Any]) -> Bot:
    """A new stopped bot for ``owner`` from the form's cleaned data."""
    bot = Bot(owner=owner, status=BotStatus.STOPPED)
    _apply(bot, data)
    bot.save()
    create_bot_event(bot, "created", f"created ({bot.mode}, {bot.strategy})", {"actor": owner.get_username()})
    return bot


@transaction.atomic
def update_bot(bot: Bot, data: dict[str, Any], *, actor: str) -> Bot:
    """Save the form's changes; a bot the engine hosts is told to reload its settings."""
    changed = _apply(bot, data)
    if not changed:
        return bot
    bot.save(update_fields=[*dict.fromkeys(changed), "updated_at"])
    create_bot_event(bot, "settings", "settings changed: " + ", ".join(sorted(set(changed))), {"actor": actor})
    if bot.status in (BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED):
        events.send_engine_control("reload", bot.pk)
    return bot


@transaction.atomic
def remove_exchange_account(account: ExchangeAccount) -> None:
    """Delete an account's keys; refused while a bot uses it."""
    try:
        account.delete()
    except ProtectedError as exc:
        raise AccountInUse("Bots still use this account: switch them to paper or another account first.") from exc
