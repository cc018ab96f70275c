"""Kraken public REST: ticker polling for the REST fallback, OHLC (warm-up) and ``AssetPairs`` (the market
list with tick size, lot decimals and minimum cost)."""

from __future__ import annotations

import time

import orjson

from marketdata.exchanges.base import MarketRule, ParseError, interval_seconds, ms_to_dt, step_of
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Candle, Ticker

OHLC_MINUTES = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
NAMES = {"XBT": "BTC", "XDG": "DOGE"}  # Kraken's REST names for two assets


def unified(wsname: str) -> str:
    """``XBT/USD`` -> ``BTC/USD``."""
    base, _, quote = wsname.upper().partition("/")
    return f"{NAMES.get(base, base)}/{NAMES.get(quote, quote)}"


def rest_pair(symbol: str) -> str:
    """'BTC/USD' -> 'XBTUSD' (REST still names bitcoin XBT)."""
    base, _, quote = symbol.upper().partition("/")
    return ("XBT" if base == "BTC" else base) + quote


class KrakenRest:
    """``/0/public/Ticker`` under an overridable base URL (REST sends strings: exact)."""

    def __init__(self, base_url: str, timeout: float = 10.0, exchange: str = "kraken") -> None:
        self.http = PublicHttp(base_url, timeout)
        self.exchange = exchange

    async def _result(self, path: str, params: dict[str, str] | None = None) -> dict:
        d = orjson.loads(await self.http.get(path, params))
        if d.get("error"):
            raise ParseError(f"venue error {d['error']!r}")
        return d["result"]

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

    async def fetch_candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles from ``OHLC`` (its last row is the open one), oldest first."""
        minutes = interval_seconds(interval) // 60
        if minutes not in OHLC_MINUTES:
            return []
        receive_ns = time.time_ns()
        try:
            result = await self._result("/0/public/OHLC", {"pair": rest_pair(symbol), "interval": str(minutes)})
            rows = next(v for k, v in result.items() if k != "last")
            out = [Candle(self.exchange, symbol, interval, ms_to_dt(int(r[0]) * 1000), _d(r[1]), _d(r[2]), _d(r[3]),
                          _d(r[4]), _d(r[6]), True, None, receive_ns) for r in rows[:-1]]
        except ParseError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError, StopIteration) as exc:
            raise ParseError(f"bad OHLC: {exc!r}") from exc
        return out[-limit:]

    async def fetch_markets(self) -> list[MarketRule]:
        """``AssetPairs``: tick size, lot decimals (step), minimum cost (notional), online or not."""
        try:
            result = await self._result("/0/public/AssetPairs")
            out = []
            for p in result.values():
                if not p.get("wsname") or p.get("aclass_base", "currency") != "currency":
                    continue
                symbol = unified(p["wsname"])
                base, _, quote = symbol.partition("/")
                tick = _d(p["tick_size"]) if p.get("tick_size") else step_of(p["pair_decimals"])
                out.append(MarketRule(symbol, symbol, base, quote, tick, step_of(p["lot_decimals"]),
                                      _d(p.get("costmin") or "0"), p.get("status", "online") == "online"))
            return out
        except ParseError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise ParseError(f"bad AssetPairs: {exc!r}") from exc

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
