"""Coinbase Advanced Trade public REST: ticker polling for the REST fallback."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.coinbase.parse import optional_decimal as _od
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Ticker

INTERVAL_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
               "2h": 7_200_000, "6h": 21_600_000, "1d": 86_400_000}


GRANULARITY = {"1m": "ONE_MINUTE", "5m": "FIVE_MINUTE", "15m": "FIFTEEN_MINUTE", "30m": "THIRTY_MINUTE",
               "1h": "ONE_HOUR", "2h": "TWO_HOUR", "6h": "SIX_HOUR", "1d": "ONE_DAY"}
CandleRow = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]  # open ms, o, h, l, c, volume


class CoinbaseRest:
    """``/api/v3/brokerage/market/products/{id}/ticker`` and ``/candles`` (public, no key) under an
    overridable base URL."""

    candle_page = 350  # candles per request (the venue's maximum)
    candle_pause = 0.125  # public endpoints allow 10 requests a second
    candle_history = True

    def __init__(self, base_url: str) -> None:
        self.http = PublicHttp(base_url)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        """Best bid/ask and the last trade."""
        product = symbol.replace("/", "-").upper()
        body = await self.http.get(f"/api/v3/brokerage/market/products/{product}/ticker", {"limit": "1"})
        receive_ns = time.time_ns()
        try:
            d = orjson.loads(body)
            trades = d.get("trades") or []
            last = _d(trades[0]["price"]) if trades else None
            return Ticker(
                "coinbase", symbol, _od(d.get("best_bid")), _od(d.get("best_ask")), last, None, None, None, None,
                receive_ns,
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ParseError(f"bad ticker: {exc!r}") from exc

    async def fetch_depth(self, symbol: str, limit: int = 1000) -> bytes:
        """Coinbase books come from the socket snapshot; not used."""
        raise NotImplementedError("coinbase books are snapshotted over the socket")

    async def fetch_candles(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[CandleRow]:
        """Closed candles opening in ``[start_ms, end_ms)``, oldest first (the venue sends newest first)."""
        granularity = GRANULARITY.get(interval)
        if granularity is None:
            raise ValueError(f"unsupported interval {interval!r}")
        product = symbol.replace("/", "-").upper()
        body = await self.http.get(f"/api/v3/brokerage/market/products/{product}/candles", {
            "start": str(start_ms // 1000), "end": str((end_ms - 1) // 1000), "granularity": granularity,
            "limit": str(self.candle_page)})
        span = INTERVAL_MS[interval]
        now_ms = time.time_ns() // 1_000_000
        try:
            rows = [(int(c["start"]) * 1000, _d(c["open"]), _d(c["high"]), _d(c["low"]), _d(c["close"]),
                     _d(c["volume"])) for c in orjson.loads(body)["candles"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ParseError(f"bad candles: {exc!r}") from exc
        return sorted(r for r in rows if start_ms <= r[0] < end_ms and r[0] + span <= now_ms)

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
