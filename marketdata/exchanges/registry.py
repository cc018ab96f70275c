"""Venue code -> adapter. Adding a venue is one package beside these and one line here."""

from __future__ import annotations

from collections.abc import Callable

from marketdata.exchanges.base import Adapter
from marketdata.exchanges.binance import BinanceAdapter
from marketdata.exchanges.coinbase import CoinbaseAdapter
from marketdata.exchanges.kraken import KrakenAdapter

ADAPTERS: dict[str, Callable[[], Adapter]] = {
    "binance": BinanceAdapter,
    "coinbase": CoinbaseAdapter,
    "kraken": KrakenAdapter,
}


def get_adapter(exchange: str) -> Adapter:
    """A new adapter for a venue code; KeyError names the known venues."""
    try:
        return ADAPTERS[exchange]()
    except KeyError:
        raise KeyError(f"unknown exchange {exchange!r}; known: {', '.join(sorted(ADAPTERS))}") from None
