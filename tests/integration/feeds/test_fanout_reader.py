"""RedisFeeds on a real Redis: fresh ticks reach the bots' listeners, old ones never do, and after
the connection drops the reader resubscribes and takes the next ticks (what was published during
the gap is gone)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from marketdata.fanout import RedisFeeds, channel_name, encode
from marketdata.feeds.types import Subscription, Ticker
from tests.conftest import requires_redis

pytestmark = [requires_redis, pytest.mark.timeout(60)]
SUB = Subscription("binance", "ticker", "BTC/USDT")


def ticker(price: str, age_s: float = 0.0) -> Ticker:
    p = Decimal(price)
    return Ticker("binance", "BTC/USDT", p, p, p, None, None, None, None, time.time_ns() - int(age_s * 1e9))


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_stale_ticks_are_dropped_and_the_reader_survives_a_dropped_connection():
    prefix = f"test-{secrets.token_hex(3)}"
    url = os.environ["REDIS_URL"]
    r = aioredis.from_url(url)
    feeds = RedisFeeds(url, prefix, max_age=1.0)
    seen: list[Decimal] = []
    handle = await feeds.subscribe(SUB, lambda e: seen.append(e.last))
    channel = channel_name(prefix, SUB)
    try:
        async def numsub() -> int:
            return dict(await r.pubsub_numsub(channel)).get(channel.encode(), 0)

        deadline = time.monotonic() + 5
        while await numsub() < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await r.publish(channel, encode(ticker("100")))
        await r.publish(channel, encode(ticker("1", age_s=5)))  # delayed: must not reach a bot
        await r.publish(channel, encode(ticker("101")))
        await r.publish(channel, b"not json")
        await until(lambda: len(seen) == 2 and feeds.malformed == 1)
        assert seen == [Decimal("100"), Decimal("101")] and feeds.stale == 1

        clients = await r.client_list()
        ours = [c["id"] for c in clients if c.get("name") == f"fanout-{prefix}"]
        assert len(ours) == 1
        await r.execute_command("CLIENT", "KILL", "ID", ours[0])
        await until(lambda: feeds.gaps >= 1)
        deadline = time.monotonic() + 10
        while await numsub() < 1:  # resubscribed on the new connection
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await r.publish(channel, encode(ticker("102")))
        await until(lambda: seen[-1] == Decimal("102"))
        await feeds.unsubscribe(handle)
        deadline = time.monotonic() + 5
        while await numsub() > 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        await feeds.close()
        await r.aclose()
