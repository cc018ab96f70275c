"""Coinbase Advanced Trade stream rules: one channel per subscribe frame, heartbeats, limits.

Coinbase closes a connection that has not subscribed within 5 s, and closes idle channels: the
``heartbeats`` channel (one message a second) keeps them open, so every connection subscribes to it
first. A full ``level2`` snapshot of BTC-USD is about 3 MB, above the WebSocket client's default
1 MiB frame limit, so the frame limit is raised to 32 MiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

import orjson

from marketdata.exchanges.base import Capabilities, Credentials, Emit, Endpoint, Fees, Limits, TradingClient
from marketdata.exchanges.coinbase.parse import CoinbaseSession
from marketdata.exchanges.coinbase.rest import CoinbaseRest
from marketdata.feeds.types import Subscription

VENUE_CHANNEL = {"ticker": "ticker", "trades": "market_trades", "book": "level2", "candles": "candles"}


class CoinbaseAdapter:
    """Coinbase Advanced Trade market-data adapter."""

    name = "coinbase"
    default_endpoint = Endpoint(ws="wss://advanced-trade-ws.coinbase.com", rest="https://api.coinbase.com")
    limits = Limits(
        max_streams_per_connection=1000,
        max_outgoing_per_second=8.0,
        max_lifetime_s=None,
        max_frame_bytes=32 * 1024 * 1024,
        max_params_per_frame=100,
    )
    capabilities = Capabilities(
        live_trading=True, order_types=frozenset({"market", "limit"}), client_order_ids=True,
        testnet=None,  # its Advanced Trade sandbox answers static mocks and has no WebSocket
        reconcile=True, klines=True, market_list=True, key_permissions=True, protective_stops=True,
    )
    # The published base tier: paper trading's rates, and live risk sizing until the account's own load.
    # Advanced Trade's lowest-volume tier, coinbase.com/advanced-fees
    fee_schedule = Fees(Decimal("0.004"), Decimal("0.006"))
    app_ping_interval: float | None = None

    def to_venue(self, symbol: str) -> str:
        """'BTC/USD' -> 'BTC-USD'."""
        return symbol.replace("/", "-").upper()

    def from_venue(self, venue_symbol: str) -> str:
        """'BTC-USD' -> 'BTC/USD'."""
        return venue_symbol.replace("-", "/")

    def streams(self, sub: Subscription) -> int:
        """One venue stream per subscription."""
        return 1

    def connect_url(self, endpoint: Endpoint) -> str:
        """The socket URL as given."""
        return endpoint.ws

    def _frames(self, kind: str, subs: Sequence[Subscription]) -> list[str]:
        by_channel: dict[str, list[str]] = {}
        for sub in subs:
            by_channel.setdefault(VENUE_CHANNEL[sub.channel], []).append(self.to_venue(sub.symbol))
        step = self.limits.max_params_per_frame
        return [
            orjson.dumps({"type": kind, "product_ids": ids[i : i + step], "channel": channel}).decode()
            for channel, ids in by_channel.items()
            for i in range(0, len(ids), step)
        ]

    def subscribe_frames(self, subs: Sequence[Subscription]) -> list[str]:
        """One subscribe frame per venue channel."""
        return self._frames("subscribe", subs)

    def unsubscribe_frames(self, subs: Sequence[Subscription]) -> list[str]:
        """One unsubscribe frame per venue channel."""
        return self._frames("unsubscribe", subs)

    def on_connect_frames(self) -> list[str]:
        """Heartbeats first, so quiet channels are not closed."""
        return [orjson.dumps({"type": "subscribe", "channel": "heartbeats"}).decode()]

    def app_ping_frame(self) -> str | None:
        """Heartbeats replace an application ping."""
        return None

    def new_session(self, emit: Emit, subs: Iterable[Subscription]) -> CoinbaseSession:
        """A fresh parse session (the sequence counter restarts with each connection)."""
        session = CoinbaseSession(emit, self.name)
        session.adapter = self
        for sub in subs:
            session.add(sub, self.to_venue(sub.symbol))
        return session

    def rest_client(self, endpoint: Endpoint) -> CoinbaseRest:
        """Public REST client (ticker polling, klines, the market list)."""
        return CoinbaseRest(endpoint.rest)

    def trading_client(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> TradingClient:
        """The signed client of one account (orders, fills, balances, fees, key permissions)."""
        from marketdata.exchanges.coinbase.trading import CoinbaseTrading  # ccxt loads only where trading happens

        return CoinbaseTrading(rest_url or self.default_endpoint.rest, credentials, timeout=timeout)
