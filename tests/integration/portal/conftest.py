"""Portal fixtures: a signed-in admin client, alice's bot with orders, fills, a position
and an account, and a session cookie for WebSocket tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest


@pytest.fixture
def admin_client_(admin_user):
    from django.test import Client

    c = Client()
    c.force_login(admin_user)
    return c


@pytest.fixture
def alice_account(alice, catalogue):
    from bots.models import ExchangeAccount
    from marketdata.models import Exchange

    return ExchangeAccount.objects.create(owner=alice, exchange=Exchange.objects.get(code="simulator"),
                                          label="alice-sim", api_key="ALICEKEY-abcd1234", api_secret="ALICE-SECRET-xyz")


@pytest.fixture
def alice_bot(alice, make_bot):
    """Alice's bot with two orders (one filled), a fill, an open position and a log line."""
    from bots.models import BotEvent, Fill, Order, Position

    bot = make_bot(alice, name="Alice BTC", strategy="crossover", params={"fast_period": 3, "slow_period": 8})
    t0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    filled = Order.objects.create(bot=bot, side="buy", quantity=Decimal("0.01"), status="filled",
                                  filled_quantity=Decimal("0.01"), average_fill_price=Decimal("50000.12"),
                                  reason="entry", client_order_id="bp-alice-filled-1")
    Order.objects.create(bot=bot, side="sell", type="limit", quantity=Decimal("0.01"), price=Decimal("51000"),
                         status="open", reason="take_profit", client_order_id="bp-alice-open-2")
    Fill.objects.create(order=filled, exchange=bot.exchange, trade_id="alice-t1", price=Decimal("50000.12"),
                        quantity=Decimal("0.01"), time=t0)
    Position.objects.create(bot=bot, market=bot.market, quantity=Decimal("0.01"),
                            average_entry=Decimal("50000.12"), stop_loss_price=Decimal("49000"),
                            take_profit_price=Decimal("51000"), opened_at=t0 + timedelta(seconds=1))
    BotEvent.objects.create(bot=bot, kind="signal", message="alice-secret-signal")
    return bot


def session_headers(client, origin: bytes = b"http://localhost:8000") -> list[tuple[bytes, bytes]]:
    """Headers a browser sends on a WebSocket handshake: the session cookie and its origin."""
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", origin),
            (b"host", b"testserver")]


@pytest.fixture
async def close_db_connections_after():
    """Consumers query the database from asgiref's worker thread; close that thread's connection
    after the test so the test database can be dropped (PostgreSQL refuses while one is open)."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True)
def fresh_price_memory(settings):
    """Last prices and candles live in the cache and the publisher's memory, and ids repeat across
    tests: each test gets an empty cache of its own (never ``clear()`` a cache that may be shared)."""
    import uuid

    from bots import price_memory

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"portal-test-{uuid.uuid4().hex}"}}
    price_memory.forget_price_memory()
    yield
    price_memory.forget_price_memory()
