"""Warm-up history: closed candles from a Binance-protocol venue's REST klines (the simulator serves
them too). Other venues return nothing and their bar strategies wait for live candles."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import orjson

from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Candle, Instrument


class KlineHistory:
    """The History port over ``GET /api/v3/klines``; ``rest`` maps exchange code -> REST base URL."""

    def __init__(self, rest: dict[str, str], timeout: float = 5.0) -> None:
        self.http = {code: PublicHttp(url, timeout) for code, url in rest.items()}

    async def fetch_candles(self, instrument: Instrument, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles, oldest first."""
        http = self.http.get(instrument.exchange)
        if http is None:
            return []
        body = await http.get("/api/v3/klines", {"symbol": instrument.symbol.replace("/", ""),
                                                  "interval": interval, "limit": str(min(limit + 1, 1000))})
        now_ms = time.time_ns() // 1_000_000
        candles = []
        for row in orjson.loads(body):
            if int(row[6]) >= now_ms:
                continue  # the current, still open candle
            candles.append(Candle(
                instrument.exchange, instrument.symbol, interval,
                datetime.fromtimestamp(int(row[0]) / 1000, tz=UTC), Decimal(row[1]), Decimal(row[2]),
                Decimal(row[3]), Decimal(row[4]), Decimal(row[5]), True, None, time.time_ns()))
        return candles[-limit:]

    async def close(self) -> None:
        """Close the HTTP sessions."""
        for http in self.http.values():
            await http.close()
