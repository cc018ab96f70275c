"""Production wiring: the engine runs in another process and its updates reach browsers through the
Redis channel layer. A separate Python process publishes with ``events.apublish_engine_event`` over
channels-redis; the socket, served by the real ASGI stack in this process, receives it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from tests.conftest import requires_redis

from .conftest import session_headers

pytestmark = [requires_redis, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("close_db_connections_after")]

PUBLISHER = textwrap.dedent("""
    import asyncio, os, sys
    from decimal import Decimal
    import django
    django.setup()
    from django.conf import settings
    settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ["PORTAL_TEST_PREFIX"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": os.environ["PORTAL_TEST_PREFIX"]}}
    from bots import events
    owner, bot, price = int(sys.argv[1]), int(sys.argv[2]), Decimal(sys.argv[3])
    asyncio.run(events.apublish_engine_event(owner, bot, "price", {"price": price}))
    print("sent")
""")


@pytest.fixture
def redis_layer(settings):
    """The project's Redis layer under a prefix of its own, so parallel runs never share groups; and
    a Redis cache, as production shares the last prices between the engine and the web processes."""
    prefix = f"asgi-portal-test-{uuid.uuid4().hex[:8]}"
    layers = {"default": {**settings.CHANNEL_LAYERS["default"]}}
    layers["default"]["CONFIG"] = {**layers["default"]["CONFIG"], "prefix": prefix}
    assert layers["default"]["BACKEND"].startswith("channels_redis.")  # core or pubsub: both take a prefix
    settings.CHANNEL_LAYERS = layers
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": settings.REDIS_URL, "KEY_PREFIX": prefix}}
    return prefix


def publish_from_another_process(prefix: str, owner_id: int, bot_id: int, price: str) -> None:
    # The same settings module as this test run (pytest-django exports it), so both sides use one layer.
    env = {**os.environ, "PORTAL_TEST_PREFIX": prefix,
           "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "botplatform.settings")}
    out = subprocess.run([sys.executable, "-c", PUBLISHER, str(owner_id), str(bot_id), price], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    assert "sent" in out.stdout


async def test_a_price_published_by_another_process_reaches_the_owners_socket_only(
        redis_layer, alice_client, bob_client, alice_bot):
    from botplatform.asgi import application

    alice = WebsocketCommunicator(application, f"/ws/bots/{alice_bot.pk}/",
                                  headers=await sync_to_async(session_headers)(alice_client))
    bob = WebsocketCommunicator(application, "/ws/live/", headers=await sync_to_async(session_headers)(bob_client))
    assert (await alice.connect(timeout=5))[0] and (await bob.connect(timeout=5))[0]
    await sync_to_async(publish_from_another_process)(redis_layer, alice_bot.owner_id, alice_bot.pk, "61234.5")
    frame = await alice.receive_json_from(timeout=5)
    assert frame["items"][0]["type"] == "bot.price"
    assert Decimal(frame["items"][0]["price"]) == Decimal("61234.5")
    assert await bob.receive_nothing(timeout=0.5)
    await alice.disconnect()
    await bob.disconnect()


async def test_a_socket_idle_for_longer_than_redis_pys_read_timeout_stays_open_and_gets_the_next_push(
        redis_layer, alice_client, alice_bot):
    """redis-py 8 reads with a 5 s socket timeout by default, as long as channels-redis blocks on an idle
    channel: the consumer's receive failed at 5 s and the socket closed under the page."""
    from botplatform.asgi import application

    alice = WebsocketCommunicator(application, f"/ws/bots/{alice_bot.pk}/",
                                  headers=await sync_to_async(session_headers)(alice_client))
    assert (await alice.connect(timeout=5))[0]
    await asyncio.sleep(7)  # nothing for the socket, past the 5 s read timeout
    await sync_to_async(publish_from_another_process)(redis_layer, alice_bot.owner_id, alice_bot.pk, "61000.5")
    frame = await alice.receive_json_from(timeout=5)
    assert Decimal(frame["items"][0]["price"]) == Decimal("61000.5")
    await alice.disconnect()


def test_a_page_loaded_after_the_push_shows_the_price_the_engine_process_published(
        redis_layer, alice_client, alice_bot):
    """With a shared (Redis) cache the web process's snapshot knows the engine process's last price."""
    publish_from_another_process(redis_layer, alice_bot.owner_id, alice_bot.pk, "60001.25")
    row = alice_client.get("/dashboard.json").json()["bots"][0]
    assert Decimal(row["last_price"]) == Decimal("60001.25")
    assert Decimal(row["unrealized_pnl"]) == (Decimal("60001.25") - Decimal("50000.12")) * Decimal("0.01")
