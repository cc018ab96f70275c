"""Coinbase Advanced Trade public REST: ticker polling for the REST fallback."""

from __future__ import annotations

import time

import orjson

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.coinbase.parse import optional_decimal as _od
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Ticker


class CoinbaseRest:
    """``/api/v3/brokerage/market/products/{id}/ticker`` (public, no key) under an overridable base URL."""

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

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
