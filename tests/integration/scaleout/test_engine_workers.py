"""Several real ``runengine`` processes share the bots through leases (PostgreSQL + Redis).

What is checked comes from the database, not from timing: the lease history (one row per tenure)
never overlaps for a bot, and every order row carries the worker and fencing token that wrote it,
which must be a tenure of that worker covering the order's creation.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.db.models import Count
from django.utils import timezone

from bots import services
from bots.models import Bot, Order, OrderEvent
from cluster.models import LeaseRecord, Worker
from cluster.status import held_by

from .conftest import needs_cluster, until

pytestmark = [needs_cluster, pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
SYMBOLS = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
BOTS = int(os.environ.get("SCALEOUT_TEST_BOTS", "300"))  # the proof: 300 paper bots over 3 workers


def running_bots(make_bot, owner, n: int) -> list[int]:
    return [make_bot(owner, name=f"bot {i}", symbol=SYMBOLS[i % 3], params=TICK, capital=Decimal("100000"),
                     order_size=Decimal("50"), cooldown_seconds=2, status="running").id for i in range(n)]


def holders() -> dict[int, str]:
    """Bot id -> the worker holding its unexpired lease."""
    return {int(k): holder for holder, keys in held_by("bot").items() for k in keys}


def worker_of(proc) -> str:
    return until(lambda: Worker.objects.filter(pid=proc.pid).values_list("id", flat=True).first(),
                 timeout=120, what=f"worker row of pid {proc.pid}")


def balanced(bots: list[int], workers: list[str]) -> bool:
    held = holders()
    if set(held) != set(bots) or set(held.values()) - set(workers):
        return False
    load = Counter(held.values())
    return max(load[w] for w in workers) - min(load[w] for w in workers) <= 1


def assert_history_is_sound(bots: list[int]) -> None:
    """No bot ever had two hosts; every order was written inside its writer's tenure."""
    tenures = defaultdict(list)
    for r in LeaseRecord.objects.filter(kind="bot").order_by("key", "token"):
        tenures[int(r.key)].append(r)
    for bot_id, rows in tenures.items():
        for before, after in zip(rows, rows[1:], strict=False):
            assert before.ended_at is not None and before.ended_at <= after.acquired_at, (bot_id, before, after)
    for event in OrderEvent.objects.filter(message="created", order__bot_id__in=bots).select_related("order"):
        bot_id, stamp = event.order.bot_id, event.data
        tenure = next((r for r in tenures[bot_id]
                       if r.holder_identity == stamp.get("worker") and r.token == stamp.get("token")), None)
        assert tenure is not None, (bot_id, stamp)
        assert tenure.acquired_at <= event.time, (bot_id, tenure, event.time)
        assert tenure.ended_at is None or event.time <= tenure.ended_at, (bot_id, tenure, event.time)
    dupes = Order.objects.values("client_order_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()
    assert not OrderEvent.objects.filter(order__bot_id__in=bots).exclude(
        order__in=Order.objects.filter(events__message="created")).exists()  # no order without its row first


def test_workers_share_bots_fail_over_rebalance_and_route_control(processes, make_bot, alice):
    bots = running_bots(make_bot, alice, BOTS)
    procs = {name: processes.engine(name) for name in ("e1", "e2", "e3")}
    ids = {name: worker_of(p) for name, p in procs.items()}
    began = time.monotonic()
    until(lambda: balanced(bots, list(ids.values())), 120, what=f"{BOTS} bots spread over 3 workers")
    print(f"{BOTS} bots spread over 3 workers {time.monotonic() - began:.1f} s after they registered")
    until(lambda: Order.objects.filter(bot_id__in=bots).exists(), what="the bots trade")

    # SIGKILL one worker: its bots resume on the other two.
    victim = ids["e1"]
    orphans = [b for b, w in holders().items() if w == victim]
    processes.signal("e1", signal.SIGKILL)
    began = time.monotonic()
    procs["e1"].wait(10)
    survivors = [ids["e2"], ids["e3"]]
    until(lambda: balanced(bots, survivors), 90, what="the dead worker's bots taken over")
    print(f"{len(orphans)} orphans leased again {time.monotonic() - began:.1f} s after SIGKILL")
    # Taken over only after the dead worker's keepalive ran out (how fast is bench/'s "failover time").
    expired_at = Worker.objects.get(pk=victim).expires_at
    for bot_id in orphans:
        taken = LeaseRecord.objects.filter(key=str(bot_id)).exclude(holder_identity=victim).latest("token")
        assert taken.acquired_at >= expired_at, (bot_id, taken.acquired_at, expired_at)
    resumed_at = timezone.now()
    until(lambda: not Bot.objects.filter(pk__in=orphans, heartbeat_at__lt=resumed_at).exists(), 60,
          what="the orphans' heartbeats on their new hosts")

    # A fourth worker joins: bots move to it a few at a time until the load is even.
    procs["e4"] = processes.engine("e4")
    ids["e4"] = worker_of(procs["e4"])
    began = time.monotonic()
    until(lambda: balanced(bots, [*survivors, ids["e4"]]), 120, what="load even over three live workers")
    print(f"load even {time.monotonic() - began:.1f} s after a fourth worker registered")

    # Control messages reach a bot that moved (routed to its lease holder's channel).
    moved = next(b for b, w in holders().items() if w == ids["e4"])
    bot = Bot.objects.get(pk=moved)
    services.pause_bot(bot, actor="alice")
    until(lambda: Bot.objects.filter(pk=moved, status="paused", status_reason="Paused by request").exists(),
          what="pause reached the new host")
    services.resume_bot(bot, actor="alice")
    until(lambda: Bot.objects.filter(pk=moved, status="running", status_reason="").exists(),
          what="resume reached the new host")
    services.stop_bot(bot, actor="alice")
    until(lambda: Bot.objects.filter(pk=moved, status="stopped", status_reason="Stopped by request").exists(),
          what="stop reached the new host")
    until(lambda: moved not in holders(), what="the stopped bot's lease released")

    # Clean shutdown: each hands its bots over before it exits.
    for name in ("e2", "e3", "e4"):
        processes.signal(name, signal.SIGTERM)
    for name in ("e2", "e3", "e4"):
        assert procs[name].wait(30) == 0, processes.log(name)
        assert "Traceback" not in processes.log(name), processes.log(name)
    assert not holders()
    assert_history_is_sound(bots)


def test_a_paused_worker_that_lost_its_leases_places_no_order_for_them(processes, make_bot, alice):
    bots = running_bots(make_bot, alice, 24)
    procs = {name: processes.engine(name) for name in ("e1", "e2")}
    ids = {name: worker_of(p) for name, p in procs.items()}
    until(lambda: balanced(bots, list(ids.values())), 120, what="bots spread over 2 workers")
    until(lambda: Order.objects.filter(bot_id__in=bots).exists(), what="the bots trade")

    # Freeze e1 past its lease expiry; meanwhile one of its bots is stopped (the message goes to
    # e1's channel, which nobody reads now): the database keeps the request.
    frozen = [b for b, w in holders().items() if w == ids["e1"]]
    processes.signal("e1", signal.SIGSTOP)
    stopped = frozen[0]
    services.stop_bot(Bot.objects.get(pk=stopped), actor="alice")
    stopped_at = timezone.now()
    until(lambda: all(holders().get(b) == ids["e2"] for b in frozen[1:]), 90, what="e2 took e1's bots")
    processes.signal("e1", signal.SIGCONT)
    until(lambda: processes.log("e1").count("no longer hosting bot") >= len(frozen) - 1, 60,
          what="e1 noticed it lost its bots")
    until(lambda: balanced([b for b in bots if b != stopped], list(ids.values())), 120, what="rebalanced")

    # The stop sent while the bot was frozen on e1 was not lost: nobody took the bot up again.
    assert not LeaseRecord.objects.filter(key=str(stopped), acquired_at__gt=stopped_at).exists()
    assert Bot.objects.get(pk=stopped).status == "stopped"
    for name in ("e1", "e2"):
        processes.signal(name, signal.SIGTERM)
        assert procs[name].wait(30) == 0, processes.log(name)
    assert_history_is_sound(bots)
