"""Writers of the marketdata app."""

from __future__ import annotations

from django.db import transaction

from .catalogue import EXCHANGES, MARKETS
from .models import Exchange, Market


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
