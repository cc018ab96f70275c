"""Binance public REST: the depth snapshot for book sync, the 24 h ticker for the REST fallback, klines
(warm-up) and ``exchangeInfo`` (the market list with its filters)."""

from __future__ import annotations

import time

import orjson

from marketdata.exchanges.base import MarketRule, ParseError, ms_to_dt
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.binance.parse import split_symbol
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Candle, Ticker


class BinanceRest:
    """``/api/v3/depth`` and ``/api/v3/ticker/24hr`` under an overridable base URL."""

    def __init__(self, base_url: str, timeout: float = 10.0, exchange: str = "binance") -> None:
        base = base_url.rstrip("/").removesuffix("/api/v3")
        self.http = PublicHttp(base, timeout)
        self.exchange = exchange

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

    async def fetch_candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles from ``/api/v3/klines``, oldest first."""
        body = await self.http.get("/api/v3/klines", {"symbol": symbol.replace("/", "").upper(),
                                                      "interval": interval, "limit": str(min(limit + 1, 1000))})
        now_ms, receive_ns = time.time_ns() // 1_000_000, time.time_ns()
        try:
            candles = [Candle(self.exchange, symbol, interval, ms_to_dt(int(r[0])), _d(r[1]), _d(r[2]), _d(r[3]),
                              _d(r[4]), _d(r[5]), True, None, receive_ns)
                       for r in orjson.loads(body) if int(r[6]) < now_ms]  # the open candle is left out
        except (orjson.JSONDecodeError, IndexError, TypeError, ValueError, ArithmeticError) as exc:
            raise ParseError(f"bad klines: {exc!r}") from exc
        return candles[-limit:]

    async def fetch_markets(self) -> list[MarketRule]:
        """``exchangeInfo``: every symbol with its PRICE_FILTER tick, LOT_SIZE step and (MIN_)NOTIONAL."""
        try:
            info = orjson.loads(await self.http.get("/api/v3/exchangeInfo"))
            out = []
            for sym in info.get("symbols", []):
                f = {x["filterType"]: x for x in sym.get("filters", [])}
                notional = f.get("NOTIONAL") or f.get("MIN_NOTIONAL") or {}
                base, quote = sym.get("baseAsset"), sym.get("quoteAsset")
                unified = f"{base}/{quote}" if base and quote else split_symbol(sym["symbol"])
                base, _, quote = unified.partition("/")
                out.append(MarketRule(unified, sym["symbol"], base, quote, _d(f["PRICE_FILTER"]["tickSize"]),
                                      _d(f["LOT_SIZE"]["stepSize"]), _d(notional.get("minNotional", "0")),
                                      sym.get("status") == "TRADING"))
            return out
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ParseError(f"bad exchangeInfo: {exc!r}") from exc

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
