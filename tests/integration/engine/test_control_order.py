"""A pause then a resume within a second end with the bot running, however the two ways a request
reaches a leased worker (its control message, and the saved status each lease round reads) and the
engine's own status writes interleave: the last command wins (SQLite, and PostgreSQL + Redis in
the CI's second pass)."""

from __future__ import annotations

import asyncio
import secrets
import threading
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from bots import services
from bots.engine_host import EngineHost, simulator_venues
from bots.models import Bot
from bots.services import leases as bot_leases
from bots.workers import EngineWorker, LeaseSettings
from cluster.models import LeaseRecord
from tests.conftest import requires_postgres

from .conftest import FAST, read

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
QUIET = LeaseSettings(duration=60, interval=60)  # rounds only when the test runs one


@pytest.fixture(autouse=True)
def _own_control_channel(settings):  # noqa: F811 (pytest-django's fixture: overrides django.conf.settings)
    """Channels of this test only: other engines on the same Redis read the shared one."""
    settings.ENGINE_CONTROL_CHANNEL = f"engine.control.t{secrets.token_hex(3)}"


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


@pytest.fixture
async def pair(sim):
    """Two leased workers on the simulator (no listeners: the test delivers messages)."""
    made = []

    async def make(name: str) -> EngineWorker:
        host = EngineHost(simulator_venues(sim.urls), config=FAST, slippage_bps=Decimal(0))
        await host.start(resume=False)
        worker = EngineWorker(host, QUIET, identity=name)
        made.append((host, worker))
        await worker.start()
        return worker

    yield make
    for host, worker in made:
        await worker.stop()
        await host.stop()


async def deliver(worker: EngineWorker, channel: str) -> None:
    """Hand ``worker`` the message waiting on ``channel``."""
    await worker.control(await asyncio.wait_for(get_channel_layer().receive(channel), 5))


def history(bot_id: int) -> list[str]:
    return list(LeaseRecord.objects.filter(key=str(bot_id)).order_by("token").values_list("holder_identity", flat=True))


@requires_postgres  # two workers' threads on SQLite's shared in-memory test database lock each other out
async def test_a_stop_sent_while_the_bot_moves_between_workers_is_not_lost(pair, make_bot, alice):
    bots = [await sync_to_async(make_bot)(alice, name=f"b{i}", params=TICK, status="running") for i in range(3)]
    a = await pair("w-a")
    b = await pair("w-b")  # joins: a is over its share of two and hands the last bots over
    await a.round()
    moved = sorted(set(a.fence.tokens) ^ {x.id for x in bots})
    assert len(moved) == 1 and moved[0] not in a.engine.bots  # released, nobody holds it yet
    # A stop while nobody holds the bot: it goes to the shared channel, whoever reads it.
    await read(services.stop_bot, await read(Bot.objects.get, pk=moved[0]), actor="alice")
    await deliver(b, settings.ENGINE_CONTROL_CHANNEL)
    await b.round()
    assert moved[0] not in b.engine.bots and moved[0] not in b.fence.tokens
    assert await read(history, moved[0]) == ["w-a"]  # never claimed again
    assert (await read(row, moved[0]))[0] == "stopped"


@requires_postgres
async def test_a_stop_sent_after_the_claim_but_before_the_load_is_not_lost(pair, make_bot, alice, monkeypatch):
    bots = [await sync_to_async(make_bot)(alice, name=f"b{i}", params=TICK, status="running") for i in range(3)]
    a = await pair("w-a")
    b = await pair("w-b")
    await a.round()
    moved = sorted(set(a.fence.tokens) ^ {x.id for x in bots})[0]
    start_bots = b.host.start_bots

    async def stop_then_start(ids):  # b claimed the bot; the stop is asked before b reads it
        await read(services.stop_bot, await read(Bot.objects.get, pk=moved), actor="alice")
        await deliver(b, b.channel)  # b holds the lease now: the message comes to b
        return await start_bots(ids)

    monkeypatch.setattr(b.host, "start_bots", stop_then_start)
    await b.round()
    await b.host.store.flush()
    monkeypatch.undo()
    await b.round()  # the next round too
    await b.host.store.flush()
    assert moved not in b.engine.bots
    assert (await read(row, moved))[0] == "stopped"


@requires_postgres
async def test_a_hand_over_waits_for_a_writer_that_is_far_behind_then_releases(pair, make_bot, alice, monkeypatch):
    import bots.workers

    bots_ = [await sync_to_async(make_bot)(alice, name=f"b{i}", params=TICK, status="running") for i in range(3)]
    a = await pair("w-a")
    b = await pair("w-b")
    store = a.host.store
    await store.flush()
    flush, commit, gate = store.flush, store._commit, threading.Event()

    async def short_flush(timeout: float = 0.3) -> None:  # the writer's backlog outlasts any one wait
        await flush(min(timeout, 0.3))

    def held_commit(batch):
        gate.wait(20)
        return commit(batch)

    monkeypatch.setattr(bots.workers, "FLUSH_WARN", 0.2)
    monkeypatch.setattr(store, "flush", short_flush)
    store.heartbeat([x.id for x in bots_], a.host.clock.now())  # a write queued behind the slow commit
    store._commit = held_commit
    round_ = asyncio.create_task(a.round())  # hands one bot over: detached, waits for the writes
    await asyncio.sleep(1.5)
    assert not round_.done()
    moved = [x.id for x in bots_ if x.id not in a.engine.bots]
    assert len(moved) == 1 and await read(history, moved[0]) == ["w-a"]
    assert (await read(LeaseRecord.objects.get, key=str(moved[0]))).ended_at is None  # not released yet
    gate.set()
    await round_  # the writes landed: released, the round did not fail
    assert (await read(LeaseRecord.objects.get, key=str(moved[0]))).end_reason == "handed over (rebalancing)"
    await b.round()
    assert moved[0] in b.engine.bots


@requires_postgres
async def test_bots_handed_over_together_wait_for_their_sends_together(pair, make_bot, alice, monkeypatch):
    """Each detach waits for the bot's in-flight sends (up to the send timeout): one after the other,
    ten bots with a send stuck behind a slow writer would hold the round for ten timeouts."""
    for i in range(4):
        await sync_to_async(make_bot)(alice, name=f"b{i}", params=TICK, status="running")
    a = await pair("w-a")
    await pair("w-b")
    steps: list[str] = []
    detach = a.engine.detach_bot

    async def slow_detach(bot_id: int):
        steps.append("begin")
        await asyncio.sleep(0.05)  # its in-flight send
        result = await detach(bot_id)
        steps.append("end")
        return result

    monkeypatch.setattr(a.engine, "detach_bot", slow_detach)
    await a.round()  # over its share of two: hands two over
    assert steps == ["begin", "begin", "end", "end"]
