"""Coinbase Advanced Trade public REST: ticker polling for the REST fallback, candles (warm-up) and the
product list with its increments."""

from __future__ import annotations

import time

import orjson

from marketdata.exchanges.base import MarketRule, ParseError, interval_seconds, ms_to_dt
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.coinbase.parse import optional_decimal as _od
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Candle, Ticker

GRANULARITY = {60: "ONE_MINUTE", 300: "FIVE_MINUTE", 900: "FIFTEEN_MINUTE", 1800: "THIRTY_MINUTE",
               3600: "ONE_HOUR", 7200: "TWO_HOUR", 21600: "SIX_HOUR", 86400: "ONE_DAY"}
MAX_CANDLES = 350  # Coinbase's cap per candles request


class CoinbaseRest:
    """``/api/v3/brokerage/market/products/{id}/ticker`` (public, no key) under an overridable base URL."""

    def __init__(self, base_url: str, timeout: float = 10.0, exchange: str = "coinbase") -> None:
        self.http = PublicHttp(base_url, timeout)
        self.exchange = exchange

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

    async def fetch_candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles (``market/products/{id}/candles``), oldest first."""
        span = interval_seconds(interval)
        granularity = GRANULARITY.get(span)
        if granularity is None:
            return []  # Coinbase has no such bar size; the strategy waits for live candles
        product = symbol.replace("/", "-").upper()
        end = int(time.time()) // span * span  # the open candle starts here and is left out
        start = end - span * min(limit, MAX_CANDLES)
        body = await self.http.get(f"/api/v3/brokerage/market/products/{product}/candles",
                                   {"granularity": granularity, "start": str(start), "end": str(end)})
        receive_ns = time.time_ns()
        try:
            rows = orjson.loads(body).get("candles") or []
            out = [Candle(self.exchange, symbol, interval, ms_to_dt(int(r["start"]) * 1000), _d(r["open"]),
                          _d(r["high"]), _d(r["low"]), _d(r["close"]), _d(r["volume"]), True, None, receive_ns)
                   for r in rows if int(r["start"]) < end]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ParseError(f"bad candles: {exc!r}") from exc
        out.sort(key=lambda c: c.open_time)  # Coinbase answers newest first
        return out[-limit:]

    async def fetch_markets(self) -> list[MarketRule]:
        """Every spot product with its quote increment (tick), base increment (step) and minimum funds."""
        try:
            products = orjson.loads(await self.http.get("/api/v3/brokerage/market/products",
                                                        {"product_type": "SPOT"})).get("products") or []
            return [MarketRule(
                f"{p['base_currency_id']}/{p['quote_currency_id']}", p["product_id"], p["base_currency_id"],
                p["quote_currency_id"], _d(p.get("price_increment") or p["quote_increment"]), _d(p["base_increment"]),
                _d(p.get("quote_min_size") or "0"),
                not (p.get("trading_disabled") or p.get("is_disabled") or p.get("cancel_only")
                     or p.get("status", "online") not in ("online", "")),
            ) for p in products]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ParseError(f"bad products: {exc!r}") from exc

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
