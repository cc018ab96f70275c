"""Warm-up history for an engine on the Redis fan-out (``runengine --feeds redis``).

Such an engine reads no venue itself: the feed process holding a venue's lease does, and it says
where that venue's public REST lives (``advertised``, kept in its worker row's ``info``; a simulator
feed process gives its own loopback simulator, a live one the exchange's real endpoint). The
engine's warm-up and chart backfill ask that REST, so a bot that needs past candles warms up on
the prices it will trade on, and an engine in simulator mode never calls a real venue.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from marketdata.exchanges.base import Endpoint, RestClient
from marketdata.exchanges.registry import get_adapter
from marketdata.feeds.types import Candle, Instrument

from .workers import DbThread

REFRESH_SECONDS = 5.0  # how long a looked-up directory is trusted (a venue moves within a lease or two)


def advertised(endpoints: Mapping[str, Endpoint], protocols: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """What a feed process puts in its worker row for the venues it reads: code -> protocol, ws, rest."""
    return {code: {"protocol": protocols[code], "ws": e.ws, "rest": e.rest} for code, e in endpoints.items()}


def reader_endpoints() -> dict[str, tuple[str, Endpoint]]:
    """Venue code -> (protocol, endpoint) as advertised by the live feed process holding its lease (sync)."""
    from cluster.models import Worker
    from cluster.status import venue_readers

    readers = venue_readers()
    infos = dict(Worker.objects.filter(pk__in=set(readers.values()), stopped_at__isnull=True)
                 .values_list("id", "info"))
    out: dict[str, tuple[str, Endpoint]] = {}
    for code, holder in readers.items():
        entry = ((infos.get(holder) or {}).get("endpoints") or {}).get(code)
        if entry and entry.get("rest"):
            out[code] = (entry["protocol"], Endpoint(ws=entry.get("ws", ""), rest=entry["rest"]))
    return out


class ReaderHistory:
    """The engine's ``History`` port over the REST advertised by each venue's current reader."""

    def __init__(self, refresh: float = REFRESH_SECONDS) -> None:
        self.refresh = refresh
        self.db = DbThread("engine-directory")
        self.clients: dict[tuple[str, str], RestClient] = {}  # (protocol, rest base) -> client
        self._directory: dict[str, tuple[str, Endpoint]] = {}
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _where(self, exchange: str) -> tuple[str, Endpoint] | None:
        async with self._lock:
            stale = time.monotonic() - self._read_at > self.refresh
            if stale or exchange not in self._directory:
                self._directory = await self.db(reader_endpoints)
                self._read_at = time.monotonic()
            return self._directory.get(exchange)

    async def fetch_candles(self, instrument: Instrument, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles from the venue's reader's REST; raises when no feed process
        reads the venue now (the bot then waits for live candles, and its log says why)."""
        where = await self._where(instrument.exchange)
        if where is None:
            raise LookupError(f"no feed process reads {instrument.exchange} now")
        protocol, endpoint = where
        adapter = get_adapter(protocol)
        if not adapter.capabilities.klines:
            return []
        key = (protocol, endpoint.rest)
        client = self.clients.get(key)
        if client is None:
            client = self.clients[key] = adapter.rest_client(endpoint)
        try:
            candles = await client.fetch_candles(instrument.symbol, interval, limit)
        except Exception:
            self._read_at = float("-inf")  # the reader may have moved: look it up again next time
            raise
        for candle in candles:
            candle.exchange = instrument.exchange
        return candles

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()
        self.clients.clear()
        await self.db.close()

