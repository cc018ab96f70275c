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
from decimal import Decimal
from typing import Any

import orjson

from marketdata.exchanges.base import Capabilities, Credentials, Emit, Endpoint, Fees, Limits, TradingClient
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
    capabilities = Capabilities(
        live_trading=True, order_types=frozenset({"market", "limit"}), client_order_ids=True,
        testnet=None,  # Kraken has a futures demo, no spot testnet
        reconcile=True, klines=True, market_list=True, key_permissions=True, protective_stops=True,
    )
    # The published base tier: paper trading's rates, and live risk sizing until the account's own load.
    # Kraken Pro's lowest-volume spot tier, kraken.com/features/fee-schedule
    fee_schedule = Fees(Decimal("0.0025"), Decimal("0.004"))
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
        """Public REST client (ticker polling, klines, the market list)."""
        return KrakenRest(endpoint.rest)

    def trading_client(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> TradingClient:
        """The signed client of one account (orders, fills, balances, fees, key permissions)."""
        from marketdata.exchanges.kraken.trading import KrakenTrading  # ccxt loads only where trading happens

        return KrakenTrading(rest_url or self.default_endpoint.rest, credentials, timeout=timeout)
