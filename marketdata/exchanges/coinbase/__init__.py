"""Coinbase Advanced Trade market-data WebSocket (public channels)."""

from marketdata.exchanges.coinbase.feed import CoinbaseAdapter

__all__ = ["CoinbaseAdapter"]
