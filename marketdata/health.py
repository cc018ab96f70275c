"""The market-data page's feed health: its group and the newest published numbers.

The host of the market-data manager publishes the feeds' metrics about once a second (through
``bots.events.apublish_feed_health``); the newest are also kept in Django's cache under the group's
name, so a page loaded between two pushes renders them (shared across processes when the cache is).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

log = logging.getLogger(__name__)

FEED_HEALTH_GROUP = "feeds.health"  # one group: feed health holds no user's data
FEED_HEALTH_TTL = 30  # seconds: a dead publisher's numbers disappear from the page


async def remember_feed_health(exchanges: dict[str, Any]) -> None:
    """Keep the newest per-exchange numbers for page snapshots; best effort, never raises."""
    try:
        await cache.aset(FEED_HEALTH_GROUP, exchanges, FEED_HEALTH_TTL)
    except Exception:  # a cache outage must not stop the live push behind it
        log.debug("feed health not cached", exc_info=True)


def published_feed_health() -> dict[str, Any]:
    """The newest per-exchange numbers a publisher kept, or ``{}`` when none is running."""
    return cache.get(FEED_HEALTH_GROUP) or {}
