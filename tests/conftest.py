"""Shared fixtures: the three users every feature test needs (alice owns, bob must see nothing,
an admin sees all), alice's and bob's signed-in clients and a bot factory on the built-in catalogue."""

from __future__ import annotations

import os
import uuid
from decimal import Decimal

import pytest

USING_POSTGRES = bool(os.environ.get("DATABASE_URL"))
USING_REDIS = bool(os.environ.get("REDIS_URL"))

requires_redis = pytest.mark.skipif(not USING_REDIS, reason="needs REDIS_URL (the CI's second pass)")
requires_postgres = pytest.mark.skipif(not USING_POSTGRES, reason="needs DATABASE_URL (the CI's second pass)")


def pytest_configure(config: pytest.Config) -> None:
    """A cache of this run's own on Redis: keys are per bot id, and a price that an earlier run left
    for "bot 48" (ids start again in each test database) must not mark this run's bot 48. Processes
    the tests start (engines, Celery workers) inherit the prefix."""
    prefix = f"botplatform-test-{uuid.uuid4().hex[:8]}"
    os.environ["CACHE_KEY_PREFIX"] = prefix
    from django.conf import settings

    if settings.CACHES["default"].get("KEY_PREFIX"):
        settings.CACHES["default"]["KEY_PREFIX"] = prefix


@pytest.fixture
def catalogue(db):
    from marketdata.services import load_catalogue

    load_catalogue()


@pytest.fixture
def alice(db, django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.invalid", "alice-pass-123")


@pytest.fixture
def bob(db, django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.invalid", "bob-pass-123")


@pytest.fixture
def alice_client(client, alice):
    """The test client, signed in as alice."""
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    """A second client, signed in as bob (next to alice's in the same test)."""
    from django.test import Client

    c = Client()
    c.force_login(bob)
    return c


@pytest.fixture
def make_bot(catalogue):
    from bots.models import Bot
    from marketdata.models import Market

    def make(owner, *, exchange: str = "simulator", symbol: str = "BTC/USDT", **fields):
        market = Market.objects.select_related("exchange").get(exchange__code=exchange, symbol=symbol)
        values = {
            "name": f"{owner.username} bot", "exchange": market.exchange, "market": market,
            "strategy": "crossover", "params": {"fast_period": 3, "slow_period": 8},
            "capital": Decimal("1000"), "order_size": Decimal("100"),
        }
        values.update(fields)
        return Bot.objects.create(owner=owner, **values)

    return make
