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
    finally:
        await comm.disconnect()
        await r.aclose()


async def test_strangers_and_unknown_markets_are_refused(catalogue, alice):
    anon = await connect(AnonymousUser(), "/ws/market/simulator/BTC-USDT/")
    assert (await anon.connect()) == (False, 4401)
    unknown = await connect(alice, "/ws/market/simulator/NOPE-USDT/")
    assert (await unknown.connect()) == (False, 4404)
