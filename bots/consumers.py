"""Live updates for the portal: session-authenticated WebSockets behind the origin check.

``LiveConsumer`` (``/ws/live/``) joins the user's own group (every one of their bots: dashboard,
orders); ``BotConsumer`` (``/ws/bots/<id>/``) joins one bot's group after the ownership gate says
the bot is the user's. Groups are joined before ``accept()``; a stranger is closed with a code.
Pushes are coalesced per socket (``Coalescer``): at most a few frames a second, each a
``{"type": "batch", "items": [...]}`` the page applies on top of its HTTP snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from . import access, events

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401  # no session: the page should send the user to the login form
CLOSE_NOT_FOUND = 4404  # not this user's bot (or no such bot): the same code, never revealing which

COALESCE_INTERVAL = 0.25  # seconds between frames to one socket: at most 4 per second

# Payload types where only the newest matters per bot (a newer price replaces an unsent one).
_LATEST_ONLY = {"bot.price", "bot.position", "bot.status", "feeds.health"}
_MAX_PENDING = 200  # unsent log/order items kept per socket; older ones are dropped (snapshot heals)


class Coalescer:
    """Collects pushes for one socket and releases them as one batch at most every ``interval``.

    Leading edge: the first push after a quiet interval goes out at once (low latency); pushes
    that arrive within the interval are merged and go out together when it ends. Prices, positions
    and statuses keep only the newest per bot; orders keep the newest per client order id; log
    lines are kept in order, capped. Pure: the consumer owns the timer.
    """

    def __init__(self, interval: float = COALESCE_INTERVAL, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.last_sent = -1e18
        self._pending: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.dropped = 0

    def add(self, payload: dict[str, Any]) -> float | None:
        """Queue a payload. Returns the delay (s) after which ``flush`` should run, 0 for now."""
        kind = payload.get("type", "")
        if kind in _LATEST_ONLY:
            key: tuple[Any, ...] = (kind, payload.get("bot_id"))
        elif kind == "bot.order":
            key = (kind, payload.get("client_order_id"))
        else:
            key = (kind, len(self._pending), self.clock(), id(payload))
        self._pending.pop(key, None)  # re-insert so the newest version keeps arrival order
        self._pending[key] = payload
        if len(self._pending) > _MAX_PENDING:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            self.dropped += 1
        return max(0.0, self.last_sent + self.interval - self.clock())

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> list[dict[str, Any]]:
        """Take every queued payload (in arrival order) and start a new interval."""
        items = list(self._pending.values())
        self._pending.clear()
        if items:
            self.last_sent = self.clock()
        return items


class _CoalescingConsumer(AsyncJsonWebsocketConsumer):
    """Base: joins ``self.groups_to_join`` and forwards every payload through a ``Coalescer``."""

    groups_to_join: list[str]

    async def connect(self) -> None:
        self.groups_to_join = []
        self.coalescer = Coalescer()
        self._flush_task: asyncio.Task | None = None
        user = self.scope.get("user")
        if not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = await self.authorise(user)
        if groups is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_to_join = groups
        await self.accept()

    async def authorise(self, user: Any) -> list[str] | None:
        """The groups this user may join on this URL, or None to refuse."""
        raise NotImplementedError

    async def disconnect(self, code: int) -> None:
        if self._flush_task is not None:
            self._flush_task.cancel()
        for group in self.groups_to_join:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = str(message.get("type", ""))
        if kind.startswith("websocket."):
            await super().dispatch(message)
        elif kind.startswith("bot."):
            self.push(message)
        else:
            log.debug("ignoring %s on a portal socket", kind)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The browser only listens; a ping is answered so it can tell a dead socket."""
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    def push(self, payload: dict[str, Any]) -> None:
        """Queue a payload; send now or when the coalescing interval ends."""
        delay = self.coalescer.add(payload)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.ensure_future(self._flush_after(delay or 0.0))

    async def _flush_after(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        items = self.coalescer.flush()
        if items:
            await self.send_json({"type": "batch", "items": items})


class LiveConsumer(_CoalescingConsumer):
    """Every update of the signed-in user's bots (their ``user.<id>`` group)."""

    async def authorise(self, user: Any) -> list[str] | None:
        return [events.user_group(user.pk)]


class BotConsumer(_CoalescingConsumer):
    """One bot's updates, for its owner only."""

    async def authorise(self, user: Any) -> list[str] | None:
        bot_id = self.scope["url_route"]["kwargs"]["bot_id"]
        try:
            bot = await database_sync_to_async(access.get_bot_for_user)(user, bot_id)
        except Http404:
            return None
        return [events.bot_group(bot.pk)]
