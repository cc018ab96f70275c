"""The live WebSocket through the real ASGI stack (origin check, session auth, routing): a user
joins only their own groups, strangers are closed with a code, pushes are coalesced."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from bots import events
from bots.consumers import COALESCE_INTERVAL

from .conftest import session_headers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio,
              pytest.mark.usefixtures("close_db_connections_after")]


def app():
    from botplatform.asgi import application

    return application


async def connect(path: str, headers: list | None) -> tuple[WebsocketCommunicator, bool, int | None]:
    comm = WebsocketCommunicator(app(), path, headers=headers or [(b"origin", b"http://testserver")])
    connected, code = await comm.connect(timeout=5)
    return comm, connected, code


async def frames(comm: WebsocketCommunicator, within: float) -> list[dict]:
    """Every frame that arrives within ``within`` seconds (polling: a receive that times out would
    cancel the application under test)."""
    out = []
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while loop.time() < end:
        if not await comm.receive_nothing(timeout=0.02, interval=0.01):
            out.append(await comm.receive_json_from(timeout=1))
    return out


async def test_an_anonymous_socket_is_closed_with_4401():
    for path in ("/ws/live/", "/ws/bots/1/", "/ws/market/"):
        comm, connected, code = await connect(path, None)
        assert (connected, code) == (False, 4401), path


async def test_bob_is_closed_with_4404_on_alices_bot_and_on_a_missing_one(bob_client, alice_bot):
    headers = await sync_to_async(session_headers)(bob_client)
    for bot_id in (alice_bot.pk, alice_bot.pk + 999):
        comm, connected, code = await connect(f"/ws/bots/{bot_id}/", headers)
        assert (connected, code) == (False, 4404)


async def test_a_foreign_origin_is_refused(alice_client, alice_bot, settings):
    from channels.auth import AuthMiddlewareStack
    from channels.routing import URLRouter
    from channels.security.websocket import AllowedHostsOriginValidator

    from bots.routing import websocket_urlpatterns

    settings.ALLOWED_HOSTS = ["testserver"]
    guarded = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
    headers = await sync_to_async(session_headers)(alice_client, origin=b"http://evil.example")
    comm = WebsocketCommunicator(guarded, f"/ws/bots/{alice_bot.pk}/", headers=headers)
    connected, _ = await comm.connect(timeout=5)
    assert not connected
    comm = WebsocketCommunicator(guarded, f"/ws/bots/{alice_bot.pk}/",
                                 headers=await sync_to_async(session_headers)(alice_client))
    connected, _ = await comm.connect(timeout=5)
    assert connected
    await comm.disconnect()


async def test_alice_receives_her_bots_events_and_bob_receives_none(alice_client, bob_client, alice_bot, bob):
    alice_headers = await sync_to_async(session_headers)(alice_client)
    alice_bot_comm, ok, _ = await connect(f"/ws/bots/{alice_bot.pk}/", alice_headers)
    alice_live, ok2, _ = await connect("/ws/live/", await sync_to_async(session_headers)(alice_client))
    bob_live, ok3, _ = await connect("/ws/live/", await sync_to_async(session_headers)(bob_client))
    assert ok and ok2 and ok3
    await events.apublish_engine_event(alice_bot.owner_id, alice_bot.pk, "price",
                                       {"price": Decimal("50123.45"), "bid": Decimal("50123.40"), "ask": None})
    await events.apublish_engine_event(alice_bot.owner_id, alice_bot.pk, "order",
                                       {"client_order_id": "bp-x", "side": "buy", "type": "market",
                                        "quantity": Decimal("0.002"), "status": "filled"})
    got = [i for f in await frames(alice_bot_comm, 0.8) for i in f["items"]]
    assert {"type": "bot.price", "bot_id": alice_bot.pk, "price": "50123.45"}.items() <= got[0].items()
    assert got[1]["type"] == "bot.order" and got[1]["quantity"] == "0.002"
    live = [i for f in await frames(alice_live, 0.5) for i in f["items"]]
    assert [i["type"] for i in live] == ["bot.price", "bot.order"]
    assert await frames(bob_live, 0.5) == []
    for comm in (alice_bot_comm, alice_live, bob_live):
        await comm.disconnect()


async def test_a_status_change_from_the_buttons_reaches_the_open_page(alice_client, alice_bot):
    comm, ok, _ = await connect(f"/ws/bots/{alice_bot.pk}/", await sync_to_async(session_headers)(alice_client))
    assert ok
    await sync_to_async(alice_client.post)(f"/bots/{alice_bot.pk}/start/")
    items = [i for f in await frames(comm, 0.8) for i in f["items"]]
    assert {"type": "bot.status", "bot_id": alice_bot.pk, "status": "starting",
            "reason": "requested by alice"} in items
    await comm.disconnect()


async def test_a_burst_of_prices_is_coalesced_to_a_few_frames_with_the_newest_price(alice_client, alice_bot):
    comm, ok, _ = await connect(f"/ws/bots/{alice_bot.pk}/", await sync_to_async(session_headers)(alice_client))
    assert ok
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(200):
        await events.apublish_engine_event(alice_bot.owner_id, alice_bot.pk, "price", {"price": Decimal(50000 + i)})
    got = await frames(comm, 1.0)
    elapsed = loop.time() - start
    # At most one frame per coalescing interval (plus the leading one), however fast prices arrive.
    assert 1 <= len(got) <= 1 + elapsed / COALESCE_INTERVAL
    prices = [i["price"] for f in got for i in f["items"] if i["type"] == "bot.price"]
    assert prices[-1] == "50199" and len(prices) == len(got)
    await comm.disconnect()


async def test_the_market_page_socket_receives_feed_health(alice_client, catalogue):
    comm, ok, _ = await connect("/ws/market/", await sync_to_async(session_headers)(alice_client))
    assert ok
    await events.apublish_feed_health({"exchanges": {"simulator": {"messages_per_s": 3.0,
                                                                   "health": {"status": "healthy"}}}})
    got = await comm.receive_json_from(timeout=2)
    assert got["items"][0]["exchanges"]["simulator"]["messages_per_s"] == 3.0
    await comm.disconnect()
