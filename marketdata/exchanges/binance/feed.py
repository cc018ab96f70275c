"""Binance spot stream rules: URLs, SUBSCRIBE frames, symbols, limits.

Limits (Binance spot WebSocket docs): 1024 streams per connection; 5 incoming messages per second
from the client (SUBSCRIBE frames, pongs); a connection is cut after 24 hours, so we reconnect at
23 h 30 min. The server pings every 20 s and wants a pong within a minute: the WebSocket client
answers protocol pings itself, so no application ping is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from decimal import Decimal

import orjson

from marketdata.exchanges.base import Capabilities, Credentials, Emit, Endpoint, Fees, Limits, TradingClient
from marketdata.exchanges.binance.parse import BinanceSession, split_symbol
from marketdata.exchanges.binance.rest import BinanceRest
from marketdata.feeds.types import Subscription

# The "ticker" channel merges bookTicker (real-time best bid/ask) with the 24 h ticker (last, volume, 1 s).
STREAMS: dict[str, tuple[str, ...]] = {
    "ticker": ("@bookTicker", "@ticker"),
    "trades": ("@trade",),
    "book": ("@depth@100ms",),
    "candles": ("@kline_1m",),
}


class BinanceAdapter:
    """Binance spot market-data adapter."""

    name = "binance"
    default_endpoint = Endpoint(ws="wss://stream.binance.com:9443/stream", rest="https://api.binance.com")
    limits = Limits(
        max_streams_per_connection=1024,
        max_outgoing_per_second=5.0,
        max_lifetime_s=23.5 * 3600,
        max_frame_bytes=4 * 1024 * 1024,
        max_params_per_frame=200,
    )
    capabilities = Capabilities(
        live_trading=True, order_types=frozenset({"market", "limit"}), client_order_ids=True,
        testnet=Endpoint(ws="wss://stream.testnet.binance.vision/stream", rest="https://testnet.binance.vision"),
        reconcile=True, klines=True, market_list=True, key_permissions=True, protective_stops=True,
    )
    # The published base tier: paper trading's rates, and live risk sizing until the account's own load.
    fee_schedule = Fees(Decimal("0.001"), Decimal("0.001"))  # the base spot tier (VIP 0), binance.com/en/fee/schedule
    app_ping_interval: float | None = None

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def to_venue(self, symbol: str) -> str:
        """'BTC/USDT' -> 'BTCUSDT'."""
        return symbol.replace("/", "").upper()

    def from_venue(self, venue_symbol: str) -> str:
        """'BTCUSDT' -> 'BTC/USDT' (by known quote assets)."""
        return split_symbol(venue_symbol)

    def stream_names(self, sub: Subscription) -> list[str]:
        """The venue stream names one subscription needs."""
        base = self.to_venue(sub.symbol).lower()
        return [base + suffix for suffix in STREAMS[sub.channel]]

    def streams(self, sub: Subscription) -> int:
        """How many venue streams one subscription uses (for the per-connection limit)."""
        return len(STREAMS[sub.channel])

    def connect_url(self, endpoint: Endpoint) -> str:
        """The combined-stream endpoint; streams are added with SUBSCRIBE after connecting."""
        return endpoint.ws

    def _frames(self, method: str, subs: Sequence[Subscription]) -> list[str]:
        names = [name for sub in subs for name in self.stream_names(sub)]
        step = self.limits.max_params_per_frame
        return [
            orjson.dumps({"method": method, "params": names[i : i + step], "id": next(self._ids)}).decode()
            for i in range(0, len(names), step)
        ]

    def subscribe_frames(self, subs: Sequence[Subscription]) -> list[str]:
        """SUBSCRIBE frames, batched to stay under the 5 frames/s limit."""
        return self._frames("SUBSCRIBE", subs)

    def unsubscribe_frames(self, subs: Sequence[Subscription]) -> list[str]:
        """UNSUBSCRIBE frames."""
        return self._frames("UNSUBSCRIBE", subs)

    def on_connect_frames(self) -> list[str]:
        """Nothing to send before subscribing."""
        return []

    def app_ping_frame(self) -> str | None:
        """Binance uses protocol pings only."""
        return None

    def new_session(self, emit: Emit, subs: Iterable[Subscription]) -> BinanceSession:
        """A fresh parse session for one connection."""
        session = BinanceSession(emit, self.name)
        for sub in subs:
            session.add(sub, self.to_venue(sub.symbol))
        return session

    def rest_client(self, endpoint: Endpoint) -> BinanceRest:
        """Public REST client (ticker polling, klines, the market list)."""
        return BinanceRest(endpoint.rest)

    def trading_client(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> TradingClient:
        """The signed client of one account (orders, fills, balances, fees, key permissions)."""
        from marketdata.exchanges.binance.trading import BinanceTrading  # ccxt loads only where trading happens

        return BinanceTrading(rest_url or self.default_endpoint.rest, credentials, timeout=timeout)
