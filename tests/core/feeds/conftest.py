"""Loopback fakes for the feed tests."""

from __future__ import annotations

import pytest

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
