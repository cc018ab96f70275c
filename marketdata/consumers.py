"""The market-data page's live feed: per-exchange health, messages/s, latency, reconnects; and one
market's live prices from the market-data fan-out.

Feed health and prices hold no user's data, so every signed-in user may have them. The host of the
market-data manager publishes health about once a second (``bots.events.apublish_feed_health``;
the newest numbers are kept by ``marketdata.health``); prices come from the feed processes through
Redis (``marketdata.fanout``), the same stream the engine workers read.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from .events import HISTORY_GROUP
from .fanout import price_payload, shared_reader
from .feeds.types import MarketEvent, Subscription, Ticker
from .health import FEED_HEALTH_GROUP
from .models import Market

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_NO_FANOUT = 4503  # single-process mode: prices reach pages through the bots' own events


class FeedHealthConsumer(AsyncJsonWebsocketConsumer):
    """Pushes ``feeds.health`` payloads to a signed-in user's market-data page."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not getattr(user, "is_authenticated", False):
            # Accept, then close with the code: closed before accepting, the browser sees only 1006.
            await self.accept()
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.channel_layer.group_add(FEED_HEALTH_GROUP, self.channel_name)
        await self.channel_layer.group_add(HISTORY_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(FEED_HEALTH_GROUP, self.channel_name)
        await self.channel_layer.group_discard(HISTORY_GROUP, self.channel_name)

    async def feeds_health(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "batch", "items": [message]})

    async def history_progress(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "batch", "items": [message]})


class MarketPriceConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/market/<exchange>/<BASE-QUOTE>/``: the market's latest ticker, at most 4 pushes a second."""

    interval = 0.25

    async def connect(self) -> None:
        user = self.scope.get("user")
        if not getattr(user, "is_authenticated", False):
            await self._refuse(CLOSE_UNAUTHENTICATED)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        exchange, symbol = kwargs["exchange"], kwargs["symbol"].replace("-", "/")
        if not await database_sync_to_async(
                Market.objects.filter(exchange__code=exchange, symbol=symbol, exchange__enabled=True).exists)():
            await self._refuse(CLOSE_NOT_FOUND)
            return
        if not settings.REDIS_URL:
            await self._refuse(CLOSE_NO_FANOUT)
            return
        self.latest: Ticker | None = None
        self.flusher: asyncio.Task[None] | None = None
        self.feeds = shared_reader(settings.REDIS_URL, settings.MARKET_FANOUT_PREFIX, settings.MARKET_FANOUT_MAX_AGE)
        self.handle = await self.feeds.subscribe(Subscription(exchange, "ticker", symbol), self._on_event)
        await self.accept()

    async def _refuse(self, code: int) -> None:
        # Accept, then close with the code: closed before accepting, the browser sees only 1006
        # (and the page's script could not tell "sign in again" or "no fan-out" from a network blip).
        await self.accept()
        await self.close(code=code)

    def _on_event(self, event: MarketEvent) -> None:
        if type(event) is Ticker:
            self.latest = event
            if self.flusher is None or self.flusher.done():
                self.flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(self.interval)  # coalesce: a busy market sends its latest price only
        if self.latest is not None:
            await self.send_json(price_payload(self.latest))

    async def disconnect(self, code: int) -> None:
        handle = getattr(self, "handle", None)
        if handle is not None:
            await self.feeds.unsubscribe(handle)
        flusher = getattr(self, "flusher", None)
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
