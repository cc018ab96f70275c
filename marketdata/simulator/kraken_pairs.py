"""Kraken's names for assets and pairs: REST ids (XXBTZUSD), altnames (XBTUSD), wsnames (XBT/USD)."""

from __future__ import annotations

from .model import Market
from .venue import Venue

# Kraken's own asset names, for REST (WebSocket v2 uses the plain ones)
ASSET_NAMES = {"BTC": ("XXBT", "XBT"), "ETH": ("XETH", "ETH"), "USD": ("ZUSD", "USD"), "EUR": ("ZEUR", "EUR")}


def asset_ids(code: str) -> tuple[str, str]:
    """(REST id, altname) of an asset: BTC -> (XXBT, XBT)."""
    return ASSET_NAMES.get(code, (code, code))


def find_pair(venue: Venue, name: str) -> Market | None:
    """A market by REST id (XXBTZUSD), altname (XBTUSD), wsname (XBT/USD) or unified name (BTC/USD)."""
    return venue.markets.by_id.get(name) or _by_altname(venue, name)


def _by_altname(venue: Venue, name: str) -> Market | None:
    for market in venue.markets.by_symbol.values():
        base_alt, quote_alt = asset_ids(market.spec.base)[1], asset_ids(market.spec.quote)[1]
        if name in (base_alt + quote_alt, f"{base_alt}/{quote_alt}", market.spec.symbol.replace("/", "")):
            return market
    return None
