"""A simulator, the engine host on it, and helpers to wait for what the engine wrote."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError, connections

from bots.engine.engine import EngineConfig
from bots.engine_host import EngineHost, simulator_venues
from marketdata.simulator.server import Simulator

FAST = EngineConfig(price_interval=0.1, heartbeat_interval=0.2, submit_timeout=5.0, reconcile_interval=0.5,
                    warmup_timeout=2.0)


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    """Close the connection the ORM opened in sync_to_async's thread, so PostgreSQL can drop the
    test database at the end of the session."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
async def sim():
    s = Simulator(seed=11)
    await s.start()
    s.pause()  # prices move only when a test scripts them
    yield s
    await s.stop()


@pytest.fixture
async def make_host(sim):
    hosts: list[EngineHost] = []

    async def make(**kw) -> EngineHost:
        host = EngineHost(simulator_venues(sim.urls), config=FAST, slippage_bps=Decimal(0), poll_interval=0.1,
                          **kw)
        hosts.append(host)
        await host.start()
        return host

    yield make
    for host in hosts:  # a test that failed half way leaves its host running
        if not getattr(host, "_stopped", False):
            await host.stop()


async def until(predicate, timeout: float = 8.0, interval: float = 0.03):
    """Wait until ``predicate()`` (sync, may touch the ORM) is truthy; return its value."""
    check = sync_to_async(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            value = await check()
        except OperationalError:  # SQLite's shared in-memory test database: the writer holds the table
            value = None
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            from bots.models import BotEvent

            log = await sync_to_async(
                lambda: [(e.bot_id, e.kind, e.message) for e in BotEvent.objects.order_by("time")])()
            raise AssertionError(f"timed out waiting for {predicate.__doc__ or predicate}; events: {log}")
        await asyncio.sleep(interval)


async def stop_host(host: EngineHost) -> None:
    await host.stop()
    host._stopped = True


async def path(sim, venue: str, symbol: str, prices: list[str], pause: float = 0.05) -> None:
    """Script a price path on the simulator, leaving time for each tick to reach the engine (once
    the engine's subscription to that venue is live)."""
    deadline = asyncio.get_running_loop().time() + 10
    while not any(subs for subs in sim.subscriptions(venue)):
        assert asyncio.get_running_loop().time() < deadline, f"no subscription reached {venue}"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    for p in prices:
        await sim.set_price(venue, symbol, p)
        await asyncio.sleep(pause)


async def read(fn, *args, **kwargs):
    """A one-off ORM read from the test, retried while SQLite's shared test database is locked."""
    for _ in range(100):
        try:
            return await sync_to_async(fn)(*args, **kwargs)
        except OperationalError:
            await asyncio.sleep(0.02)
    raise AssertionError("database stayed locked")
