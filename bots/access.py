"""The one ownership gate: how views, consumers and admin load a user's rows."""

from __future__ import annotations

from django.http import Http404

from .models import (
    BacktestRun,
    BacktestSweep,
    Bot,
    BotEvent,
    ExchangeAccount,
    Fill,
    NotificationSettings,
    Order,
    Position,
)


def bots_for_user(user: object):  # a BotQuerySet
    return Bot.objects.for_user(user)


def get_bot_for_user(user: object, bot_id: int) -> Bot:
    """The user's bot, or 404 for anyone else's (never reveal that it exists)."""
    try:
        return Bot.objects.for_user(user).select_related("exchange", "market", "account").get(pk=bot_id)
    except (Bot.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such bot") from exc


def get_account_for_user(user: object, account_id: int) -> ExchangeAccount:
    try:
        return ExchangeAccount.objects.for_user(user).get(pk=account_id)
    except (ExchangeAccount.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such account") from exc


def orders_for_user(user: object):
    return Order.objects.for_user(user)


def fills_for_user(user: object):
    return Fill.objects.for_user(user)


def positions_for_user(user: object):
    return Position.objects.for_user(user)


def events_for_user(user: object):
    return BotEvent.objects.for_user(user)


def notification_settings_for_user(user: object) -> NotificationSettings | None:
    return NotificationSettings.objects.for_user(user).first()


def get_backtest_for_user(user: object, run_id: int) -> BacktestRun:
    """The user's backtest run, or 404 for anyone else's."""
    try:
        return BacktestRun.objects.for_user(user).select_related("market__exchange", "bot", "sweep").get(pk=run_id)
    except (BacktestRun.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such backtest") from exc


def get_sweep_for_user(user: object, sweep_id: int) -> BacktestSweep:
    """The user's sweep, or 404 for anyone else's."""
    try:
        return BacktestSweep.objects.for_user(user).select_related("market__exchange").get(pk=sweep_id)
    except (BacktestSweep.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("No such sweep") from exc
