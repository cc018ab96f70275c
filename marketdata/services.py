"""Writers of the marketdata app: the built-in catalogue and its refresh from each venue's market list."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction

from .catalogue import EXCHANGES, MARKETS
from .exchanges.base import MarketRule
from .exchanges.registry import endpoint_for, get_adapter
from .models import Exchange, Market

log = logging.getLogger(__name__)
RULE_FIELDS = ("price_tick", "quantity_step", "min_notional", "active")
MarketList = Callable[[Exchange], list[MarketRule]]


@transaction.atomic
def load_catalogue() -> tuple[int, int]:
    """Create or update the built-in exchanges and markets; idempotent. Returns (exchanges, markets)."""
    n_markets = 0
    for spec in EXCHANGES:
        exchange, _ = Exchange.objects.update_or_create(
            code=spec["code"], defaults={"name": spec["name"], "protocol": spec["protocol"]}
        )
        for symbol, native, base, quote, tick, step, min_notional in MARKETS[spec["code"]]:
            Market.objects.update_or_create(
                exchange=exchange,
                symbol=symbol,
                defaults={
                    "native_symbol": native, "base": base, "quote": quote, "price_tick": tick,
                    "quantity_step": step, "min_notional": min_notional, "active": True,
                },
            )
            n_markets += 1
    return len(EXCHANGES), n_markets


def fetch_market_list(exchange: Exchange) -> list[MarketRule]:
    """The venue's public market list with its rules (one REST call, run on its own event loop)."""
    endpoint = endpoint_for(exchange.protocol, rest_url=exchange.rest_url, testnet=exchange.testnet)
    client = get_adapter(exchange.protocol).rest_client(endpoint)

    async def fetch() -> list[MarketRule]:
        try:
            return await client.fetch_markets()
        finally:
            await client.close()

    return asyncio.run(fetch())


def _catalogue_incomplete() -> bool:
    have = set(Market.objects.values_list("exchange__code", "symbol"))
    return any((code, row[0]) not in have for code, rows in MARKETS.items() for row in rows)


def catalogue_venues() -> list[Exchange]:
    """The exchanges whose market list is read: enabled ones whose adapter has one; outside live market
    data only those with a REST endpoint set (the simulator's), so an offline run never calls a venue."""
    venues = [e for e in Exchange.objects.enabled() if get_adapter(e.protocol).capabilities.market_list]
    if getattr(settings, "MARKET_DATA_SOURCE", "simulator") != "live":
        venues = [e for e in venues if e.rest_url]
    return venues


def refresh_market_catalogue(fetch: MarketList | None = None) -> dict[str, int]:
    """Take each venue's market list: update the rules (tick, step, min notional, trading or not) of
    the markets we list and add the venue's markets in the quote currencies we already list there.
    A venue that does not answer keeps its rules; the others are still refreshed. Idempotent."""
    if _catalogue_incomplete():
        load_catalogue()  # it resets every market's rules, so only when a venue or market is missing
    fetch = fetch or fetch_market_list
    updated = added = failed = 0
    for exchange in catalogue_venues():
        try:
            rules = fetch(exchange)
        except Exception as exc:  # a venue being down must not stop the others' refresh
            log.warning("catalogue refresh: %s did not answer: %s", exchange.code, exc)
            failed += 1
            continue
        u, a = _apply_rules(exchange, rules)
        updated, added = updated + u, added + a
    return {"updated": updated, "added": added, "failed": failed}


@transaction.atomic
def _apply_rules(exchange: Exchange, rules: list[MarketRule]) -> tuple[int, int]:
    markets = {m.native_symbol: m for m in Market.objects.filter(exchange=exchange)}
    quotes = {m.quote for m in markets.values()}
    updated = added = 0
    for rule in rules:
        if rule.price_tick <= 0 or rule.quantity_step <= 0 or rule.min_notional < 0:
            continue  # a venue's odd row (e.g. a delisted pair without filters) is skipped
        market = markets.get(rule.native_symbol)
        if market is None:
            if rule.quote in quotes and rule.active:
                Market.objects.create(exchange=exchange, symbol=rule.symbol, native_symbol=rule.native_symbol,
                                      base=rule.base, quote=rule.quote, price_tick=rule.price_tick,
                                      quantity_step=rule.quantity_step, min_notional=rule.min_notional)
                added += 1
            continue
        changed = [f for f in RULE_FIELDS if getattr(market, f) != getattr(rule, f)]
        if changed:
            for f in changed:
                setattr(market, f, getattr(rule, f))
            market.save(update_fields=changed)
            updated += 1
    return updated, added
