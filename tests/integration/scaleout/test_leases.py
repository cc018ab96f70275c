"""Leases, placement and the store's fence on the real database (SQLite by default, PostgreSQL in
the CI's second pass): claims, renewals, expiry, history, least-loaded placement, gradual
rebalancing, and a write refused once the lease is gone."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from bots.engine.types import Order as CoreOrder
from bots.models import Bot, Order
from bots.services import leases as bot_leases
from bots.store import DjangoStore, LeaseLost
from cluster import leases
from cluster.models import Lease, LeaseRecord, Worker
from marketdata.feeds.types import Instrument

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def worker(name: str) -> str:
    leases.register_worker(name, "engine", "test-host", 1, f"engine.control.{name}")
    return name


def expire(key: str) -> None:
    """The holder of ``key`` stops beating (frozen, cut off): its keepalive runs out."""
    holder = Lease.objects.get(key=key).holder_identity
    Worker.objects.filter(pk=holder).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_a_claim_takes_only_free_or_expired_leases_and_every_claim_grows_the_token(db):
    a, b = worker("a"), worker("b")
    assert leases.claim(a, "bot", ["1", "2"], 5, 10) == {"1": 1, "2": 1}
    assert leases.claim(b, "bot", ["1", "2"], 5, 10) == {}  # held and unexpired
    expire("1")
    assert leases.claim(b, "bot", ["1", "2"], 5, 10) == {"1": 2, "2": 2}  # all of a's leases lapsed
    assert leases.renew(a, "bot", 5) == {}  # a wakes up and learns it lost them
    lease = Lease.objects.get(key="1")
    assert (lease.holder_identity, lease.token, lease.lease_transitions) == ("b", 2, 2)
    history = list(LeaseRecord.objects.filter(key="1").order_by("token"))
    assert leases.claim(a, "bot", ["1", "2"], 5, 10) == {}  # b is alive: nothing to take
    assert [(r.holder_identity, r.token, r.end_reason) for r in history] == [("a", 1, "expired"), ("b", 2, "")]
    assert history[0].ended_at <= history[1].acquired_at


def fenced(*args, **kw) -> set[str]:
    """``leases.fenced`` as the writer calls it: inside its batch's transaction."""
    from django.db import transaction

    with transaction.atomic():
        return leases.fenced(*args, **kw)


def test_a_worker_whose_keepalive_lapsed_reclaims_what_nobody_took_under_new_tokens(db):
    """Cut off past its lease duration (a database outage): the bots nobody claimed meanwhile are
    re-claimed under the next token, the lapsed tenure ending where the new one begins; a bot another
    worker took is not; a write fenced under the old token is accepted only while re-claiming."""
    a, b = worker("a"), worker("b")
    assert leases.claim(a, "bot", ["1", "2"], 5, 10) == {"1": 1, "2": 1}
    expire("1")  # a's keepalive lapsed (both leases)
    assert leases.claim(b, "bot", ["2"], 5, 1) == {"2": 2}  # b took one of them meanwhile
    assert fenced(a, "bot", {"1": 1}) == {"1"}  # nobody took 1: a's queued writes may still land
    assert leases.reclaim(a, "bot", {"1": 1, "2": 1}, 5) == {"1": 2}
    assert Worker.objects.alive(timezone.now()).filter(pk=a).exists()  # the keepalive is renewed too
    assert fenced(a, "bot", {"1": 1}) == set()  # the old token is over ...
    assert fenced(a, "bot", {"1": 1}, successors=["1"]) == {"1"}  # ... unless it is being replaced
    assert fenced(a, "bot", {"1": 2}) == {"1"}
    assert fenced(a, "bot", {"2": 1}, successors=["2"]) == set()  # b holds 2
    assert leases.reclaim(a, "bot", {"1": 1}, 5) == {}  # a stale token re-claims nothing
    history = LeaseRecord.objects.filter(key="1").order_by("token")
    assert [(r.holder_identity, r.token, r.end_reason) for r in history] == [("a", 1, "lapsed"), ("a", 2, "")]
    first, second = LeaseRecord.objects.filter(key="1").order_by("token")
    assert first.ended_at == second.acquired_at
    assert [(r.holder_identity, r.token) for r in LeaseRecord.objects.filter(key="2").order_by("token")] == [
        ("a", 1), ("b", 2)]


def test_release_frees_a_lease_at_once_but_only_under_the_holders_token(db):
    a, b = worker("a"), worker("b")
    leases.claim(a, "bot", ["7"], 5, 1)
    assert leases.release(a, "bot", {"7": 99}) == 0  # a stale token releases nothing
    assert leases.release(a, "bot", {"7": 1}) == 1
    assert leases.claim(b, "bot", ["7"], 5, 1) == {"7": 2}
    assert LeaseRecord.objects.get(key="7", token=1).end_reason == "released"


def test_control_messages_route_to_the_lease_holders_channel_else_the_shared_one(db):
    a = worker("a")
    assert leases.holder_channel("bot", "3", "engine.control") == "engine.control"
    leases.claim(a, "bot", ["3"], 5, 1)
    assert leases.holder_channel("bot", "3", "engine.control") == "engine.control.a"
    expire("3")
    assert leases.holder_channel("bot", "3", "engine.control") == "engine.control"
    leases.renew(a, "bot", 5)  # it beats again and nobody took the bot meanwhile: still its holder
    assert leases.holder_channel("bot", "3", "engine.control") == "engine.control.a"


def test_a_dead_local_workers_leases_expire_at_once(db):
    dead = leases.register_worker("dead", "engine", "test-host", 2**22 + 12345, "", 60)  # no such pid
    leases.claim(dead.id, "bot", ["5"], 60, 1)
    assert leases.reap_dead_local_workers("test-host") == ["dead"]
    assert leases.claim(worker("a"), "bot", ["5"], 5, 1) == {"5": 2}


def test_new_bots_go_to_the_least_loaded_worker_and_a_joiner_gets_bots_gradually(make_bot, alice):
    ids = [make_bot(alice, name=f"b{i}", status="running").id for i in range(9)]
    a, b = worker("a"), worker("b")
    first = bot_leases.plan_bots(a, duration=5)
    assert len(first.claimed) == 5  # fair share with two live workers: ceil(9 / 2)
    assert bot_leases.plan_bots(a, duration=5).claimed == {}  # at its share: leaves the rest
    assert set(bot_leases.plan_bots(b, duration=5).claimed) == set(ids) - set(first.claimed)
    c = worker("c")  # joins: a and b are over the new share of 3 and hand over a bounded number
    plan = bot_leases.plan_bots(a, duration=5, max_moves=1)
    assert plan.target == 3 and len(plan.hand_over) == 1
    bot_leases.release_bots(a, {plan.hand_over[0]: plan.held[plan.hand_over[0]]}, "handed over")
    assert bot_leases.plan_bots(b, duration=5).claimed == {}  # b is not the least loaded
    assert list(bot_leases.plan_bots(c, duration=5).claimed) == plan.hand_over


def test_a_bot_stopped_in_the_database_is_unwanted_by_its_holder(make_bot, alice):
    bot = make_bot(alice, status="running")
    a = worker("a")
    assert list(bot_leases.plan_bots(a, duration=5).claimed) == [bot.id]
    bot.status = "stopped"
    bot.save(update_fields=["status"])
    assert bot_leases.plan_bots(a, duration=5).unwanted == [bot.id]


def test_after_a_lapse_a_worker_reclaims_its_running_bots_but_not_one_stopped_meanwhile(make_bot, alice):
    running, stopping, taken = (make_bot(alice, status="running", name=f"bot {i}") for i in range(3))
    a = worker("a")
    held = bot_leases.plan_bots(a, duration=5).held
    assert set(held) == {running.id, stopping.id, taken.id}
    b = worker("b")
    expire(str(running.id))  # a is cut off past its lease duration
    assert bot_leases.claim_bot(b, taken.id, 5) is not None  # b took one of its bots meanwhile
    Bot.objects.filter(pk=stopping.id).update(status="stopped")  # a user stopped another meanwhile
    kept = bot_leases.reclaim_bots(a, held, 5)
    assert kept == {running.id: held[running.id] + 1, stopping.id: held[stopping.id]}
    assert not LeaseRecord.objects.filter(key=str(stopping.id), token__gt=held[stopping.id]).exists()
    assert bot_leases.plan_bots(a, duration=5).unwanted == [stopping.id]  # stopped and released by the round


class Fence:
    def __init__(self, worker_id: str, tokens: dict[int, int]) -> None:
        self.worker_id, self.tokens, self.lost_bots = worker_id, tokens, set()

    def check(self, bot_ids: set[int]) -> set[int]:
        return bot_leases.fenced_bots(self.worker_id, {b: self.tokens[b] for b in bot_ids if b in self.tokens})

    def lost(self, bot_ids: set[int]) -> None:
        self.lost_bots |= bot_ids

    def stamp(self, bot_id: int) -> dict[str, object]:
        return {"worker": self.worker_id, "token": self.tokens.get(bot_id)}


async def test_a_worker_that_lost_its_lease_cannot_write_an_order_for_the_bot(make_bot, alice):
    from asgiref.sync import sync_to_async

    bot = await sync_to_async(make_bot)(alice, status="running")
    a, b = await sync_to_async(worker)("a"), await sync_to_async(worker)("b")
    token = (await sync_to_async(bot_leases.plan_bots)(a, duration=5)).claimed[bot.id]
    store = DjangoStore(publish=False)
    store.fence = fence = Fence(a, {bot.id: token})
    store.start()
    order = CoreOrder(client_order_id="c-1", bot_id=bot.id, instrument=Instrument("simulator", "BTC/USDT"),
                      side="buy", type="market", quantity=D("0.01"), price=None, created_at=timezone.now())
    try:
        await store.create_order(order)  # ours: written, stamped with our token
        await sync_to_async(expire)(str(bot.id))
        await sync_to_async(leases.claim)(b, "bot", [str(bot.id)], 5, 1)  # b takes the bot over
        with pytest.raises(LeaseLost):
            await store.create_order(dataclasses.replace(order, client_order_id="c-2"))
        store.update_order(dataclasses.replace(order, status="filled", filled_quantity=D("0.01")))
        await store.flush()
    finally:
        await store.stop()
    rows = await sync_to_async(lambda: list(Order.objects.values_list("client_order_id", "status")))()
    assert rows == [("c-1", "pending_submit")]  # neither the second order nor the update got through
    assert fence.lost_bots == {bot.id}
    created = await sync_to_async(lambda: Order.objects.get(client_order_id="c-1").events.get().data)()
    assert (created["worker"], created["token"]) == ("a", token)
    await sync_to_async(connections.close_all)()  # PostgreSQL can drop the test database afterwards


def test_live_workers_exclude_the_stale_and_the_stopping(db):
    a, b, c = worker("a"), worker("b"), worker("c")
    Worker.objects.filter(pk=b).update(expires_at=timezone.now() - timedelta(seconds=1))
    leases.beat_worker(c, stopping=True)
    assert list(Worker.objects.live(timezone.now()).values_list("id", flat=True)) == [a]
    assert set(Worker.objects.alive(timezone.now()).values_list("id", flat=True)) == {a, c}


def test_a_pause_requested_in_the_database_reaches_its_holder_even_without_a_message(make_bot, alice):
    from bots import services

    bot = make_bot(alice, status="running")
    a = worker("a")
    bot_leases.plan_bots(a, duration=5)
    assert bot_leases.plan_bots(a, duration=5).requests == {}
    services.pause_bot(bot, actor="alice")  # the message may be lost; the row says what was asked
    assert bot_leases.plan_bots(a, duration=5).requests == {bot.id: ("paused", 1)}


def test_placement_keeps_each_market_on_one_worker_when_the_counts_allow(make_bot, alice):
    # Bots created interleaved over three markets (as users do): placement by count alone would give
    # each of three workers some bots of every market, so each would read every market's ticks.
    symbols = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    bots = {make_bot(alice, name=f"b{i}", symbol=symbols[i % 3], status="running").id: symbols[i % 3]
            for i in range(9)}
    a, b, c = worker("a"), worker("b"), worker("c")
    for w in (a, b, c):
        assert len(bot_leases.plan_bots(w, duration=5).claimed) == 3  # the fair share, least-loaded first
    held = Lease.objects.filter(kind="bot").values_list("key", "holder_identity")
    hosted = {w: {bots[int(k)] for k, h in held if h == w} for w in (a, b, c)}
    assert sorted(len(s) for s in hosted.values()) == [1, 1, 1]
    assert set().union(*hosted.values()) == set(symbols)


def test_a_joiner_takes_over_whole_markets_from_the_smallest_market_of_the_busiest_worker(make_bot, alice):
    btc = [make_bot(alice, name=f"btc{i}", symbol="BTC/USDT", status="running").id for i in range(4)]
    eth = [make_bot(alice, name=f"eth{i}", symbol="ETH/USDT", status="running").id for i in range(2)]
    a = worker("a")
    assert set(bot_leases.plan_bots(a, duration=5).claimed) == {*btc, *eth}
    b = worker("b")  # joins: a is over the new share of 3 and hands over its smallest market first
    plan = bot_leases.plan_bots(a, duration=5, max_moves=1)
    assert plan.hand_over == [eth[1]]
    bot_leases.release_bots(a, {eth[1]: plan.held[eth[1]]}, "handed over")
    assert list(bot_leases.plan_bots(b, duration=5).claimed) == [eth[1]]
    plan = bot_leases.plan_bots(a, duration=5, max_moves=1)
    assert plan.hand_over == [eth[0]]  # the rest of that market follows, not a BTC bot
    bot_leases.release_bots(a, {eth[0]: plan.held[eth[0]]}, "handed over")
    assert list(bot_leases.plan_bots(b, duration=5).claimed) == [eth[0]]
