"""Limits per user, across bots: the only writer of ``UserLimits`` and the engine's reader of them."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from .. import events
from ..engine.accounts import NO_LIMITS, AccountLimits
from ..models import UserLimits


def set_user_limits(user: AbstractBaseUser, *, max_exposure: Decimal | None, max_daily_loss: Decimal | None,
                    max_open_orders: int | None) -> UserLimits:
    """Save a user's account-wide limits; the engine takes them on commit (no restart, no query per tick)."""
    with transaction.atomic():
        limits, _ = UserLimits.objects.select_for_update().get_or_create(user=user)
        limits.max_exposure, limits.max_daily_loss = max_exposure, max_daily_loss
        limits.max_open_orders = max_open_orders
        limits.save(update_fields=["max_exposure", "max_daily_loss", "max_open_orders", "updated_at"])
        events.send_engine_control("limits", 0, owner_id=user.pk)
    return limits


def account_limits(owner_id: int) -> AccountLimits:
    """The engine's view of a user's limits (``NO_LIMITS`` when none are set)."""
    row = UserLimits.objects.filter(user_id=owner_id).first()
    if row is None:
        return NO_LIMITS
    return AccountLimits(row.max_exposure, row.max_daily_loss, row.max_open_orders)
