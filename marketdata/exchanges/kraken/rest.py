"""Kraken public REST: ticker polling for the REST fallback."""

from __future__ import annotations

import time

import orjson

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Ticker


def rest_pair(symbol: str) -> str:
    """'BTC/USD' -> 'XBTUSD' (REST still names bitcoin XBT)."""
    base, _, quote = symbol.upper().partition("/")
    return ("XBT" if base == "BTC" else base) + quote


class KrakenRest:
    """``/0/public/Ticker`` under an overridable base URL (REST sends strings: exact)."""

    def __init__(self, base_url: str) -> None:
        self.http = PublicHttp(base_url)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        """Best bid/ask, last trade and 24 h volume."""
        body = await self.http.get("/0/public/Ticker", {"pair": rest_pair(symbol)})
        receive_ns = time.time_ns()
        try:
            d = orjson.loads(body)
            if d.get("error"):
                raise ParseError(f"venue error {d['error']!r}")
            t = next(iter(d["result"].values()))
            return Ticker(
                "kraken", symbol, _d(t["b"][0]), _d(t["a"][0]), _d(t["c"][0]), _d(t["b"][2]), _d(t["a"][2]),
                _d(t["v"][1]), None, receive_ns,
            )  # fmt: skip
        except ParseError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError, StopIteration) as exc:
            raise ParseError(f"bad ticker: {exc!r}") from exc

    async def fetch_depth(self, symbol: str, limit: int = 1000) -> bytes:
        """Kraken books come from the socket snapshot; not used."""
        raise NotImplementedError("kraken books are snapshotted over the socket")

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
