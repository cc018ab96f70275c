"""Binance spot: combined streams over one socket, REST depth snapshot for the book."""

from marketdata.exchanges.binance.feed import BinanceAdapter

__all__ = ["BinanceAdapter"]
