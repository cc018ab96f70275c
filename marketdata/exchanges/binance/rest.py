"""Binance public REST: the depth snapshot for book sync and the 24 h ticker for the REST fallback."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson

from marketdata.exchanges.base import ParseError, ms_to_dt
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Ticker

KLINE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
CandleRow = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]  # open ms, o, h, l, c, volume


class BinanceRest:
    """``/api/v3/depth``, ``/api/v3/ticker/24hr`` and ``/api/v3/klines`` under an overridable base URL."""

    candle_page = 1000  # klines per request (the venue's maximum)
    candle_pause = 0.1  # seconds between pages: weight 2 of 6,000 a minute, with a wide margin
    candle_history = True  # any start time can be asked for

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

    async def fetch_candles(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[CandleRow]:
        """Closed candles opening in ``[start_ms, end_ms)``, oldest first, at most one page."""
        if interval not in KLINE_INTERVALS:
            raise ValueError(f"unsupported interval {interval!r}")
        body = await self.http.get("/api/v3/klines", {
            "symbol": symbol.replace("/", "").upper(), "interval": interval, "startTime": str(start_ms),
            "endTime": str(end_ms - 1), "limit": str(self.candle_page)})
        now_ms = time.time_ns() // 1_000_000
        try:
            return [(int(r[0]), _d(r[1]), _d(r[2]), _d(r[3]), _d(r[4]), _d(r[5])) for r in orjson.loads(body)
                    if int(r[6]) < now_ms and start_ms <= int(r[0]) < end_ms]
        except (orjson.JSONDecodeError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
            raise ParseError(f"bad klines: {exc!r}") from exc

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
