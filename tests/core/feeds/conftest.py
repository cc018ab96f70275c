"""Loopback fakes for the feed tests."""

from __future__ import annotations

import pytest

from marketdata.feeds.transport import TRANSPORTS

from .fakes import FakeRest, FakeVenue


@pytest.fixture
async def venue():
    v = await FakeVenue().start()
    yield v
    await v.stop()


@pytest.fixture
async def rest():
    r = await FakeRest().start()
    yield r
    await r.stop()


@pytest.fixture(params=TRANSPORTS, ids=[f"via_{t}" for t in TRANSPORTS])
def kind(request: pytest.FixtureRequest) -> str:
    """Each feed transport by name (``-k via_picows`` selects one)."""
    return request.param
