"""Kraken public REST: ticker polling for the REST fallback."""

from __future__ import annotations

import time
from decimal import Decimal

import orjson

from marketdata.exchanges.base import ParseError
from marketdata.exchanges.base import wire_decimal as _d
from marketdata.exchanges.http import PublicHttp
from marketdata.feeds.types import Ticker


def rest_pair(symbol: str) -> str:
    """'BTC/USD' -> 'XBTUSD' (REST still names bitcoin XBT)."""
    base, _, quote = symbol.upper().partition("/")
    return ("XBT" if base == "BTC" else base) + quote


OHLC_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440}
CandleRow = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]  # open ms, o, h, l, c, volume


class KrakenRest:
    """``/0/public/Ticker`` and ``/0/public/OHLC`` under an overridable base URL (REST sends strings: exact)."""

    candle_page = 720  # OHLC rows per reply
    candle_pause = 1.0  # the public counter decays by one a second
    candle_history = False  # OHLC serves only the latest 720 candles of an interval, whatever ``since`` says

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

    async def fetch_candles(self, symbol: str, interval: str, start_ms: int, end_ms: int) -> list[CandleRow]:
        """Closed candles opening in ``[start_ms, end_ms)``, oldest first (the last row is still open)."""
        minutes = OHLC_MINUTES.get(interval)
        if minutes is None:
            raise ValueError(f"unsupported interval {interval!r}")
        body = await self.http.get("/0/public/OHLC", {"pair": rest_pair(symbol), "interval": str(minutes),
                                                      "since": str(max(0, start_ms // 1000 - 1))})
        now_ms = time.time_ns() // 1_000_000
        try:
            d = orjson.loads(body)
            if d.get("error"):
                raise ParseError(f"venue error {d['error']!r}")
            rows = next(v for k, v in d["result"].items() if k != "last")
            out = [(int(r[0]) * 1000, _d(r[1]), _d(r[2]), _d(r[3]), _d(r[4]), _d(r[6])) for r in rows]
        except ParseError:
            raise
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError, ArithmeticError,
                StopIteration) as exc:
            raise ParseError(f"bad OHLC: {exc!r}") from exc
        return [r for r in out if start_ms <= r[0] < end_ms and r[0] + minutes * 60_000 <= now_ms]

    async def close(self) -> None:
        """Release the HTTP session."""
        await self.http.close()
