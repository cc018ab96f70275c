"""Simulated Binance spot: streams, public REST, signed order endpoints."""
