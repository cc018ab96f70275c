"""The one ownership gate: how views, consumers and admin load a user's rows."""

from __future__ import annotations

from django.http import Http404

from .models import Bot, BotEvent, ExchangeAccount, Fill, Order, Position


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
