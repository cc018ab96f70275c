"""The market-data page's live feed: per-exchange health, messages/s, latency, reconnects.

Feed health holds no user's data, so every signed-in user may join its one group. The host of the
market-data manager publishes to it about once a second (``bots.events.apublish_feed_health``);
the newest numbers are kept by ``marketdata.health``.
"""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .events import HISTORY_GROUP
from .health import FEED_HEALTH_GROUP

CLOSE_UNAUTHENTICATED = 4401


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
