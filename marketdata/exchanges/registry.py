"""Venue code -> adapter. Adding a venue is one package beside these and one line here."""

from __future__ import annotations

from collections.abc import Callable

from marketdata.exchanges.base import Adapter, Endpoint
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


def endpoint_for(protocol: str, *, ws_url: str = "", rest_url: str = "", testnet: bool = False) -> Endpoint:
    """Where a venue lives: the saved overrides, else its testnet (every endpoint moves) when asked and it
    has one, else its own endpoints. A testnet asked of a venue without one raises ``ValueError``."""
    adapter = get_adapter(protocol)
    default = adapter.default_endpoint
    if testnet:
        if adapter.capabilities.testnet is None:
            raise ValueError(f"{protocol} has no testnet or sandbox")
        default = adapter.capabilities.testnet
    return Endpoint(ws=ws_url or default.ws, rest=rest_url or default.rest)
