"""Kraken WebSocket v2 stream rules: subscribe frames, ping, limits.

Kraken sends a ``heartbeat`` about once a second while anything is subscribed; an application
``ping`` every 30 s keeps a quiet connection open too. The ticker uses ``event_trigger: bbo`` so a
bot sees every best bid/offer change (the default triggers on trades only). Trades are subscribed
without the snapshot so old trades are not replayed as new after a reconnect. Books use depth 10:
the checksum covers exactly the top 10 levels.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from marketdata.exchanges.base import Emit, Endpoint, Limits
from marketdata.exchanges.kraken.parse import BOOK_DEPTH, KrakenSession
from marketdata.exchanges.kraken.rest import KrakenRest
from marketdata.feeds.types import Subscription

VENUE_CHANNEL = {"ticker": "ticker", "trades": "trade", "book": "book", "candles": "ohlc"}
EXTRA_PARAMS: dict[str, dict[str, Any]] = {
    "ticker": {"event_trigger": "bbo"},
    "trades": {"snapshot": False},
    "book": {"depth": BOOK_DEPTH},
    "candles": {"interval": 1},
}


class KrakenAdapter:
    """Kraken v2 market-data adapter."""

    name = "kraken"
    default_endpoint = Endpoint(ws="wss://ws.kraken.com/v2", rest="https://api.kraken.com")
    limits = Limits(
        max_streams_per_connection=1000,
        max_outgoing_per_second=10.0,
        max_lifetime_s=None,
        max_frame_bytes=8 * 1024 * 1024,
        max_params_per_frame=100,
    )
    app_ping_interval: float | None = 30.0

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def to_venue(self, symbol: str) -> str:
        """v2 uses 'BTC/USD' like our unified symbols."""
        return symbol.upper()

    def from_venue(self, venue_symbol: str) -> str:
        """Identity: v2 names are already 'BASE/QUOTE'."""
        return venue_symbol

    def streams(self, sub: Subscription) -> int:
        """One venue stream per subscription."""
        return 1

    def connect_url(self, endpoint: Endpoint) -> str:
        """The socket URL as given."""
        return endpoint.ws

    def _frames(self, method: str, subs: Sequence[Subscription]) -> list[str]:
        by_channel: dict[str, list[str]] = {}
        for sub in subs:
            by_channel.setdefault(sub.channel, []).append(self.to_venue(sub.symbol))
        step = self.limits.max_params_per_frame
        frames = []
        for channel, symbols in by_channel.items():
            for i in range(0, len(symbols), step):
                params: dict[str, Any] = {"channel": VENUE_CHANNEL[channel], "symbol": symbols[i : i + step]}
                if method == "subscribe" or channel == "book":  # unsubscribe must name the depth too
                    params.update(EXTRA_PARAMS[channel] if method == "subscribe" else {"depth": BOOK_DEPTH})
                frames.append(orjson.dumps({"method": method, "params": params, "req_id": next(self._ids)}).decode())
        return frames

    def subscribe_frames(self, subs: Sequence[Subscription]) -> list[str]:
        """One subscribe frame per channel."""
        return self._frames("subscribe", subs)

    def unsubscribe_frames(self, subs: Sequence[Subscription]) -> list[str]:
        """One unsubscribe frame per channel."""
        return self._frames("unsubscribe", subs)

    def on_connect_frames(self) -> list[str]:
        """Nothing before subscribing."""
        return []

    def app_ping_frame(self) -> str | None:
        """Kraken's application-level ping."""
        return orjson.dumps({"method": "ping", "req_id": next(self._ids)}).decode()

    def new_session(self, emit: Emit, subs: Iterable[Subscription]) -> KrakenSession:
        """A fresh parse session for one connection."""
        session = KrakenSession(emit, self.name)
        session.adapter = self
        return session

    def rest_client(self, endpoint: Endpoint) -> KrakenRest:
        """Public REST client (ticker polling)."""
        return KrakenRest(endpoint.rest)
