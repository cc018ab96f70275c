"""A pause then a resume within a second end with the bot running, however the two ways a request
reaches a leased worker (its control message, and the saved status each lease round reads) and the
engine's own status writes interleave: the last command wins (SQLite, and PostgreSQL + Redis in
the CI's second pass)."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from bots import services
from bots.engine_host import EngineHost, simulator_venues
from bots.models import Bot
from bots.services import leases as bot_leases
from bots.workers import EngineWorker, LeaseSettings

from .conftest import FAST, read

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
QUIET = LeaseSettings(duration=60, interval=60)  # rounds only when the test runs one


@pytest.fixture
async def leased(sim):
    """A leased worker on the simulator hosting one running bot (it claimed it in its first round)."""
    hosts = []

    async def make(bot_id: int) -> EngineWorker:
        host = EngineHost(simulator_venues(sim.urls), config=FAST, slippage_bps=Decimal(0))
        await host.start(resume=False)
        worker = EngineWorker(host, QUIET, identity=f"w-{bot_id}")
        hosts.append((host, worker))
        await worker.start()
        assert bot_id in host.engine.bots
        return worker

    yield make
    for host, worker in hosts:
        await worker.stop()
        await host.stop()


async def next_message(worker: EngineWorker) -> dict:
    return await asyncio.wait_for(get_channel_layer().receive(worker.channel), 5)


def row(bot_id: int) -> tuple[str, str]:
    return Bot.objects.values_list("status", "status_reason").get(pk=bot_id)


async def test_a_round_that_read_the_pause_before_the_resume_does_not_pause_the_bot_again(
        leased, make_bot, alice, monkeypatch):
    bot = await sync_to_async(make_bot)(alice, params=TICK, status="running")
    worker = await leased(bot.id)
    await worker.host.store.flush()  # its start is written
    await read(services.pause_bot, bot, actor="alice")
    # The round reads the saved statuses now (the pause is the last request) ...
    stale = await worker.db(bot_leases.plan_bots, worker.id, duration=QUIET.duration)
    # ... and while it does, the resume is asked and both messages are applied.
    await read(services.resume_bot, bot, actor="alice")
    for _ in range(2):
        await worker.control(await next_message(worker))
    assert worker.engine.bots[bot.id].status == "running"
    monkeypatch.setattr(bot_leases, "plan_bots", lambda *a, **kw: stale)
    await worker.round()  # the round goes on with what it read
    await worker.host.store.flush()
    assert worker.engine.bots[bot.id].status == "running"
    assert await read(row, bot.id) == ("running", "")


async def test_the_engines_late_write_of_a_pause_does_not_erase_the_resume_asked_after_it(
        leased, make_bot, alice):
    bot = await sync_to_async(make_bot)(alice, params=TICK, status="running")
    worker = await leased(bot.id)
    store = worker.host.store
    await store.flush()
    gate = threading.Event()
    commit = store._commit

    def held_commit(batch):  # the writer is slow (a big batch, a lock): its next commit waits
        gate.wait(10)
        return commit(batch)

    store._commit = held_commit
    await read(services.pause_bot, bot, actor="alice")
    await worker.control(await next_message(worker))  # paused here; "Paused by request" queued
    assert worker.engine.bots[bot.id].status == "paused"
    await read(services.resume_bot, bot, actor="alice")  # its message is lost (not read)
    await next_message(worker)
    gate.set()
    await store.flush()  # the engine's pause lands after the resume request
    await worker.round()  # the saved request is applied: the resume
    await store.flush()
    assert worker.engine.bots[bot.id].status == "running"
    assert await read(row, bot.id) == ("running", "")
