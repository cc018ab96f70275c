"""The web takes live prices from the same Redis fan-out the engine workers read."""

from __future__ import annotations

import asyncio
import secrets
import time
from decimal import Decimal

import pytest
import redis.asyncio as aioredis
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from bots.routing import websocket_urlpatterns
from marketdata.fanout import channel_name, encode
from marketdata.feeds.types import Subscription, Ticker
from tests.conftest import requires_redis

pytestmark = [requires_redis, pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture(autouse=True)
async def close_db_connections_after():
    """The consumer queries the database from asgiref's worker thread: close that connection so the
    PostgreSQL test database can be dropped."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def ticker(price: str) -> Ticker:
    p = Decimal(price)
    return Ticker("simulator", "BTC/USDT", p, p, p, None, None, None, None, time.time_ns())


async def connect(user, path: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
    comm.scope["user"] = user
    return comm


async def test_a_signed_in_user_gets_a_markets_latest_price_from_the_fan_out(settings, catalogue, alice):
    settings.MARKET_FANOUT_PREFIX = prefix = f"test-{secrets.token_hex(3)}"
    channel = channel_name(prefix, Subscription("simulator", "ticker", "BTC/USDT"))
    r = aioredis.from_url(settings.REDIS_URL)
    comm = await connect(alice, "/ws/market/simulator/BTC-USDT/")
    try:
        assert (await comm.connect())[0]
        deadline = time.monotonic() + 5
        while dict(await r.pubsub_numsub(channel)).get(channel.encode(), 0) < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        for price in ("100", "100.5", "101.25"):  # a burst: the socket gets the latest
            await r.publish(channel, encode(ticker(price)))
        message = await comm.receive_json_from(timeout=5)
        assert (message["type"], message["symbol"], message["last"]) == ("market.price", "BTC/USDT", "101.25")
        # Public market data only: nothing about the user, their bots or orders rides on this socket.
        assert set(message) == {"type", "exchange", "symbol", "bid", "ask", "last", "received_at_ns"}
    finally:
        await comm.disconnect()
        await r.aclose()


async def closed_with(comm: WebsocketCommunicator) -> int | None:
    """Accepted, then closed with a code the page's script can act on (a refused handshake would
    reach the browser as 1006)."""
    assert (await comm.connect())[0]
    message = await comm.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message.get("code")


async def test_strangers_and_unknown_markets_are_refused(catalogue, alice):
    assert await closed_with(await connect(AnonymousUser(), "/ws/market/simulator/BTC-USDT/")) == 4401
    assert await closed_with(await connect(alice, "/ws/market/simulator/NOPE-USDT/")) == 4404
