"""Kraken WebSocket v2 public market data."""

from marketdata.exchanges.kraken.feed import KrakenAdapter

__all__ = ["KrakenAdapter"]
