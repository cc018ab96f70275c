"""Proof that no order is lost: the engine is SIGKILLed at each step of the order path, and a real
Celery worker (Redis broker, PostgreSQL) reconciles every order to its true state, each fill once.

Runs in the CI's second pass (PostgreSQL + Redis). The worker is a subprocess on the test database,
consuming a queue of its own, so it never takes another test's tasks.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from bots.models import Discrepancy, Fill, Order, Position
from tests.conftest import requires_postgres, requires_redis

pytestmark = [requires_redis, requires_postgres, pytest.mark.django_db(transaction=True)]
HERE = Path(__file__).parent
ROOT = HERE.parents[2]
QUEUE = f"reconcile-test-{os.getpid()}"


def child_env() -> dict[str, str]:
    """The environment of a subprocess that must see this test's database and secrets."""
    from django.conf import settings
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return {**os.environ, "DATABASE_URL": url,
            "REDIS_URL": settings.CELERY_BROKER_URL, "SECRET_KEY": settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEY": settings.FIELD_ENCRYPTION_KEY, "PYTHONPATH": str(ROOT)}


class Worker:
    """``celery worker`` in a subprocess; ``finished`` counts the task ids its log reports done."""

    def __init__(self, log: Path) -> None:
        self.log, self.name = log, f"{QUEUE}@localhost"
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "botplatform", "worker", "--pool=threads",
             "--concurrency=2", "-Q", QUEUE, "-n", self.name, "--without-mingle", "--without-gossip",
             "--loglevel=INFO", "--logfile", str(log)],
            cwd=ROOT, env=child_env(), stdout=open(log.with_suffix(".out"), "w"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log.read_text()[-2000:]}")
            if self.log.exists() and "ready." in self.log.read_text():
                return
            time.sleep(0.2)
        raise TimeoutError("the Celery worker did not start")

    def _pending(self) -> int:
        """Messages of our queue still waiting or being worked on (kombu keeps those in ``unacked``)."""
        import redis
        from django.conf import settings

        r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        try:
            busy = sum(1 for raw in r.hvals("unacked") if QUEUE.encode() in raw)
            return r.llen(QUEUE) + busy
        finally:
            r.close()

    def wait_done(self, task_ids: list[str], timeout: float = 60) -> None:
        """Every task received by the worker and none of ours left unacknowledged (acks are late:
        a message is acknowledged when its task has returned)."""
        deadline, idle = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            received = set(re.findall(r"Task [\w.]+\[([0-9a-f-]+)\] received", self.log.read_text()))
            idle = idle + 1 if set(task_ids) <= received and self._pending() == 0 else 0
            if idle >= 3:
                return
            time.sleep(0.1)
        self.proc.send_signal(signal.SIGUSR1)  # celery dumps every thread's stack
        time.sleep(1)
        raise TimeoutError(f"tasks {task_ids} not done: {self.log.read_text()[-3000:]}\n"
                           f"{self.log.with_suffix('.out').read_text()[-9000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def worker(django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: Any) -> Iterator[Worker]:
    w = Worker(tmp_path_factory.mktemp("worker") / "worker.log")
    try:
        w.wait_ready()
        yield w
    finally:
        w.stop()


def reconcile_with_worker(worker: Worker, n: int = 1) -> None:
    """Enqueue ``n`` reconcile tasks at once on the worker's queue and wait for all of them."""
    from bots.tasks import reconcile_orders

    ids = [reconcile_orders.apply_async(queue=QUEUE).id for _ in range(n)]
    worker.wait_done(ids)


class Engine:
    """The engine stub in a subprocess, killed with SIGKILL at a chosen step."""

    def __init__(self, stage: str, bot: Any, coid: str, side: str = "buy", kind: str = "market",
                 qty: str = "0.01", price: str = "-", rest: str = "") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "engine_stub.py"), stage, str(bot.id), coid, side, kind, qty, price, rest],
            cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(self, word: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith(word):
                return line.strip()
            if not line and self.proc.poll() is not None:
                raise RuntimeError(f"engine stub exited: {self.proc.stderr.read()[-2000:]}")
        raise TimeoutError(f"engine stub never said {word!r}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(10) == -signal.SIGKILL
        self.proc.stdout.close()
        self.proc.stderr.close()


def age(order_id: int, seconds: float = 120) -> None:
    """Let the write-ahead's grace period pass (as if the engine had been down that long)."""
    Order.objects.filter(pk=order_id).update(created_at=timezone.now() - timedelta(seconds=seconds))


def wait_until(predicate: Any, sim: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition never held")


def position_quantity(bot: Any) -> Decimal:
    position = Position.objects.filter(bot=bot, closed_at__isnull=True).first()
    return position.quantity if position else Decimal(0)


def test_engine_killed_after_the_write_ahead_before_sending_leaves_an_order_the_exchange_confirms_absent(
        live_bot, sim, worker):
    bot = live_bot()
    engine = Engine("before-send", bot, "bp-kill-before-send", rest=sim.rest)
    engine.wait_for("written")
    engine.kill()
    order = Order.objects.get(client_order_id="bp-kill-before-send")
    assert order.status == "pending_submit"
    age(order.id)

    reconcile_with_worker(worker)

    order.refresh_from_db()
    assert order.status == "expired"
    assert "-2013" in order.last_error
    assert not Fill.objects.filter(order=order).exists()


def test_engine_killed_between_the_write_ahead_and_the_exchanges_ack_gets_the_fill_once(live_bot, sim, worker):
    bot = live_bot()
    faults = sim.sim.binance.order_faults
    sim.call(setattr, faults, "ack_delay", 30.0)
    sim.call(setattr, faults, "ack_delay_count", 1)
    engine = Engine("in-flight", bot, "bp-kill-in-flight", rest=sim.rest)
    engine.wait_for("sending")
    wait_until(lambda: sim.order(bot.account.api_key, "bp-kill-in-flight") is not None, sim)
    engine.kill()  # the exchange filled it; the engine never heard
    sim.call(faults.clear)
    order = Order.objects.get(client_order_id="bp-kill-in-flight")
    assert order.status == "pending_submit"
    age(order.id)

    reconcile_with_worker(worker)
    reconcile_with_worker(worker)

    order.refresh_from_db()
    truth = sim.order(bot.account.api_key, "bp-kill-in-flight")
    assert order.status == "filled" and truth.status == "FILLED"
    assert order.exchange_order_id == str(truth.order_id)
    fills = list(Fill.objects.filter(order=order))
    assert len(fills) == len(truth.fills) == 1
    assert order.filled_quantity == truth.executed_qty == Decimal("0.01")
    assert position_quantity(bot) == Decimal("0.01") - fills[0].fee


def test_engine_killed_after_the_ack_before_its_fills_are_stored_gets_every_fill_once(live_bot, sim, worker):
    bot = live_bot()
    bid, ask = sim.call(sim.sim.best_bid_ask, "binance", "BTC/USDT")
    limit = f"{(bid - 100):.2f}"
    engine = Engine("after-ack", bot, "bp-kill-after-ack", kind="limit", price=limit, rest=sim.rest)
    assert engine.wait_for("acked") == "acked NEW"
    engine.kill()
    order = Order.objects.get(client_order_id="bp-kill-after-ack")
    assert order.status == "open" and order.exchange_order_id
    sim.run(sim.sim.set_price("binance", "BTC/USDT", Decimal(limit) - 50))  # the resting buy fills, unseen
    wait_until(lambda: sim.order(bot.account.api_key, "bp-kill-after-ack").status == "FILLED", sim)

    reconcile_with_worker(worker, n=2)  # two reconcilers at once

    order.refresh_from_db()
    assert order.status == "filled"
    fills = list(Fill.objects.filter(order=order))
    assert len(fills) == 1 and fills[0].price == Decimal(limit)
    assert position_quantity(bot) == Decimal("0.01") - fills[0].fee


def test_many_killed_orders_and_an_orphan_reconcile_with_two_reconcilers_at_once(live_bot, sim, worker):
    bot = live_bot()
    kinds = []
    for i in range(3):
        engine = Engine("before-send" if i == 0 else "after-ack", bot, f"bp-batch-{i}", rest=sim.rest)
        engine.wait_for("written" if i == 0 else "acked")
        engine.kill()
        kinds.append(i)
    sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
              quantity="0.01", price="1000.00", newClientOrderId="placed-by-hand")
    for order in Order.objects.filter(bot=bot):
        age(order.id)

    reconcile_with_worker(worker, n=2)
    reconcile_with_worker(worker, n=2)

    statuses = dict(Order.objects.filter(bot=bot).values_list("client_order_id", "status"))
    assert statuses == {"bp-batch-0": "expired", "bp-batch-1": "filled", "bp-batch-2": "filled"}
    assert Fill.objects.filter(order__bot=bot).count() == 2
    orphan = Discrepancy.objects.get(kind="unknown_order_on_exchange", account=bot.account)
    assert orphan.data["client_order_id"] == "placed-by-hand"


def test_celery_beat_schedules_the_reconciliation_that_repairs_a_killed_order(live_bot, sim, worker, tmp_path):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="reconcile orders (test)", task="bots.reconcile_orders", interval=every_second,
                                queue=QUEUE)
    bot = live_bot()
    engine = Engine("before-send", bot, "bp-beat", rest=sim.rest)
    engine.wait_for("written")
    engine.kill()
    age(Order.objects.get(client_order_id="bp-beat").id)
    beat = subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "botplatform", "beat", "--loglevel=INFO",
         "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval", "1",
         "--pidfile", str(tmp_path / "beat.pid")],
        cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: Order.objects.get(client_order_id="bp-beat").status == "expired", sim, timeout=45)
    finally:
        beat.terminate()
        beat.wait(15)
    assert "bots.reconcile_orders" in worker.log.read_text()  # beat -> Redis -> worker -> service
