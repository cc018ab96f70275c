"""Exchange accounts and what their keys may do.

A key is checked with its venue when it is saved and again every day (Binance ``apiRestrictions``,
Coinbase ``key_permissions``, Kraken by probing ``WithdrawInfo``). A key that can withdraw is refused
unless its owner explicitly accepts the risk; a key that gained withdrawal rights since it was saved
pauses the account's live bots. A leaked trade-only key can lose money in trades, not walk away with
the account's funds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from marketdata.exchanges.base import Credentials, KeyPermissions, OrderRefused, VenueUnavailable
from marketdata.exchanges.registry import endpoint_for, get_adapter
from marketdata.models import Exchange

from .. import events
from ..models import Bot, BotMode, BotStatus, ExchangeAccount
from .lifecycle import set_bot_status

log = logging.getLogger(__name__)
WITHDRAW_PAUSE_REASON = "The API key can withdraw funds: paused until it cannot (or the risk is accepted)"


class KeyRefused(Exception):
    """The key was not saved: the venue refused it, could not be asked, or it can withdraw."""


def key_endpoint(exchange: Exchange) -> str | None:
    """Where to check a key of ``exchange``: its REST endpoint, or None when it cannot be asked from here
    (no permission API, a testnet it does not have, or, outside live market data, no endpoint set: an
    offline run never calls a real venue)."""
    if not exchange.capabilities.key_permissions:
        return None
    if getattr(settings, "MARKET_DATA_SOURCE", "simulator") != "live" and not exchange.rest_url:
        return None
    try:
        return endpoint_for(exchange.protocol, rest_url=exchange.rest_url, testnet=exchange.testnet).rest
    except ValueError:
        return None


def probe_key(exchange: Exchange, api_key: str, secret: str, passphrase: str = "") -> KeyPermissions | None:
    """What the key may do, from its venue (None: not checkable here). Raises ``VenueUnavailable``."""
    rest = key_endpoint(exchange)
    if rest is None:
        return None
    client = get_adapter(exchange.protocol).trading_client(rest, Credentials(api_key, secret, passphrase))

    async def ask() -> KeyPermissions:
        try:
            return await client.permissions()
        finally:
            await client.close()

    return asyncio.run(ask())


def _as_row(permissions: KeyPermissions) -> dict[str, Any]:
    return {"read": permissions.read, "trade": permissions.trade, "withdraw": permissions.withdraw,
            "detail": permissions.detail}


def add_exchange_account(owner: Any, data: dict[str, Any]) -> ExchangeAccount:
    """Check the key with its venue, then store it (encrypted at rest). ``KeyRefused`` when the venue
    refuses it or cannot be asked, or when it can withdraw and ``accept_withdraw_risk`` is not set."""
    exchange = data["exchange"]
    try:
        permissions = probe_key(exchange, data["api_key"], data["api_secret"], data.get("passphrase") or "")
    except (VenueUnavailable, OrderRefused) as exc:
        raise KeyRefused(f"{exchange.name} did not confirm this key ({exc}); check it and try again.") from exc
    accepted = bool(data.get("accept_withdraw_risk"))
    if permissions is not None and permissions.withdraw and not accepted:
        raise KeyRefused(f"This key can withdraw funds ({permissions.detail}). Create a key without withdrawal "
                         "rights, or tick the box to accept that risk.")
    with transaction.atomic():
        return ExchangeAccount.objects.create(
            owner=owner, exchange=exchange, label=data["label"], api_key=data["api_key"],
            api_secret=data["api_secret"], passphrase=data.get("passphrase") or "",
            key_permissions=_as_row(permissions) if permissions else {},
            permissions_checked_at=timezone.now() if permissions else None,
            withdraw_risk_accepted=accepted and permissions is not None and permissions.withdraw,
        )


def recheck_key_permissions() -> dict[str, int]:
    """The daily check of every key its venue can be asked about: store what it may do now, and pause
    the live bots of an account whose key gained withdrawal rights its owner did not accept."""
    checked = failed = paused = 0
    for account in ExchangeAccount.objects.select_related("exchange"):
        try:
            permissions = probe_key(account.exchange, account.api_key, account.api_secret, account.passphrase)
        except (VenueUnavailable, OrderRefused) as exc:
            log.warning("key check of account %s failed: %s", account.pk, exc)
            failed += 1
            continue
        if permissions is None:
            continue
        checked += 1
        account.key_permissions, account.permissions_checked_at = _as_row(permissions), timezone.now()
        account.save(update_fields=["key_permissions", "permissions_checked_at"])
        if permissions.withdraw and not account.withdraw_risk_accepted:
            paused += pause_live_bots(account, WITHDRAW_PAUSE_REASON)
    return {"checked": checked, "failed": failed, "paused": paused}


def pause_live_bots(account: ExchangeAccount, reason: str) -> int:
    """Pause the account's running live bots with ``reason`` (the engine is told); returns how many."""
    bots = list(Bot.objects.filter(account=account, mode=BotMode.LIVE,
                                   status__in=[BotStatus.STARTING, BotStatus.RUNNING]))
    for bot in bots:
        with transaction.atomic():
            set_bot_status(bot, BotStatus.PAUSED, reason, actor="key check")
            events.send_engine_control("pause", bot.id)
    return len(bots)
