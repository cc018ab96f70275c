"""Warm-up history: closed candles from each venue's public REST (Binance klines, Coinbase candles,
Kraken OHLC; the simulator serves all three). A venue whose adapter lacks ``klines``, or a bar size it
does not offer, returns nothing and the strategy waits for live candles."""

from __future__ import annotations

from collections.abc import Mapping

from marketdata.exchanges.base import Adapter, Endpoint, RestClient
from marketdata.feeds.types import Candle, Instrument


class KlineHistory:
    """The History port over each venue's public REST; ``venues`` maps exchange code -> (adapter, endpoint)."""

    def __init__(self, venues: Mapping[str, tuple[Adapter, Endpoint]]) -> None:
        self.clients: dict[str, RestClient] = {
            code: adapter.rest_client(endpoint) for code, (adapter, endpoint) in venues.items()
            if adapter.capabilities.klines}

    async def fetch_candles(self, instrument: Instrument, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles, oldest first, carrying the exchange code they were asked for."""
        client = self.clients.get(instrument.exchange)
        if client is None:
            return []
        candles = await client.fetch_candles(instrument.symbol, interval, limit)
        for candle in candles:
            candle.exchange = instrument.exchange  # e.g. "simulator" on Binance's protocol
        return candles

    async def close(self) -> None:
        """Close the HTTP sessions."""
        for client in self.clients.values():
            await client.close()
