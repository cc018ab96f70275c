"""Binance public REST: the depth snapshot for book sync and the 24 h ticker for the REST fallback."""

from __future__ import annotations

import time

import orjson

from marketdata.exchanges.base import ParseError, ms_to_dt
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Ticker


class BinanceRest:
    """``/api/v3/depth`` and ``/api/v3/ticker/24hr`` under an overridable base URL."""

    def __init__(self, base_url: str) -> None:
        self.http = PublicHttp(base_url)

    async def fetch_depth(self, symbol: str, limit: int = 1000) -> bytes:
        """Raw depth snapshot body (``lastUpdateId``, bids, asks) for ``BinanceSession.apply_snapshot``."""
        venue = symbol.replace("/", "").upper()
        return await self.http.get("/api/v3/depth", {"symbol": venue, "limit": str(limit)})

    async def fetch_ticker(self, symbol: str) -> Ticker:
        """One ticker from the 24 h statistics endpoint (prices as strings, exact)."""
        venue = symbol.replace("/", "").upper()
        body = await self.http.get("/api/v3/ticker/24hr", {"symbol": venue})
        receive_ns = time.time_ns()
        try:
            d = orjson.loads(body)
            return Ticker(
                "binance", symbol, _d(d["bidPrice"]), _d(d["askPrice"]), _d(d["lastPrice"]),
                _d(d["bidQty"]), _d(d["askQty"]), _d(d["volume"]),
                ms_to_dt(d["closeTime"]) if "closeTime" in d else None, receive_ns,
            )  # fmt: skip
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ParseError(f"bad 24hr ticker: {exc!r}") from exc

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
