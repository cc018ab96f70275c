"""Proof that no order is lost: the engine is SIGKILLed at each step of the order path, and a real
Celery worker (Redis broker, PostgreSQL) reconciles every order to its true state, each fill once.

Each proof runs on Binance, Coinbase and Kraken (the simulator's signed REST of each). Runs in the
CI's second pass (PostgreSQL + Redis). The worker is a subprocess on the test database,
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


class Venue:
    """One venue of the proofs: its simulator, a live bot on it, and the venue's own view of an order."""

    def __init__(self, name: str, binance_sim: Any, other_sim: Any, live_bot: Any, owner: Any) -> None:
        self.name, self.binance_sim, self.other_sim, self._live_bot = name, binance_sim, other_sim, live_bot
        self.owner = owner
        self.symbol = "BTC/USDT" if name == "binance" else "BTC/USD"
        self.native = "BTCUSDT" if name == "binance" else ("BTC-USD" if name == "coinbase" else "BTC/USD")
        self.rest = binance_sim.rest if name == "binance" else other_sim.urls[name].rest
        self.absent_words = {"binance": "-2013", "coinbase": "client_order_id", "kraken": "cl_ord_id"}[name]

    def bot(self) -> Any:
        if self.name == "binance":
            return self._live_bot()
        import base64
        import secrets

        from bots.models import Bot, ExchangeAccount
        from marketdata.models import Exchange, Market
        from marketdata.simulator.coinbase_auth import generate_key

        key, secret = generate_key() if self.name == "coinbase" else (
            f"kr-{secrets.token_hex(4)}", base64.b64encode(secrets.token_bytes(32)).decode())
        getattr(self.other_sim, self.name).add_account(key, secret, {"USD": "1000000", "BTC": "10"})
        Exchange.objects.filter(code=self.name).update(rest_url=self.rest)
        exchange = Exchange.objects.get(code=self.name)
        account = ExchangeAccount.objects.create(owner=self.owner, exchange=exchange, label=key[-12:], api_key=key,
                                                 api_secret=secret)
        market = Market.objects.get(exchange=exchange, symbol=self.symbol)
        return Bot.objects.create(owner=account.owner, name=f"live {self.name} {account.id}", exchange=exchange,
                                  market=market, strategy="crossover", params={"fast_period": 3, "slow_period": 8},
                                  capital=Decimal("1000"), order_size=Decimal("100"), mode="live", account=account,
                                  live_confirmed=True, status="running")

    def _sim(self) -> Any:
        return self.binance_sim if self.name == "binance" else self.other_sim

    def truth(self, api_key: str, coid: str) -> Any:
        """The venue's own order (the matching engine's row) for our client order id, or None."""
        if self.name == "binance":
            return self.binance_sim.order(api_key, coid, self.native)
        from marketdata.exchanges.kraken.trading import venue_client_id

        venue_id = venue_client_id(coid) if self.name == "kraken" else coid
        trading = getattr(self.other_sim, self.name).trading
        return self.other_sim.call(lambda: trading.accounts[api_key].by_client_id.get((self.native, venue_id)))

    def best_bid(self) -> Decimal:
        if self.name == "binance":
            return self.binance_sim.call(self.binance_sim.sim.best_bid_ask, "binance", self.symbol)[0]
        return self.other_sim.best_bid_ask(self.name, self.symbol)[0]

    def set_price(self, price: Decimal) -> None:
        if self.name == "binance":
            self.binance_sim.run(self.binance_sim.sim.set_price("binance", self.symbol, price))
        else:
            self.other_sim.set_price(self.name, self.symbol, price)

    def hold_order_answers(self) -> None:
        """Binance's simulator holds its next order answer; other venues lose it in the stub instead."""
        if self.name == "binance":
            faults = self.binance_sim.sim.binance.order_faults
            self.binance_sim.call(setattr, faults, "ack_delay", 30.0)
            self.binance_sim.call(setattr, faults, "ack_delay_count", 1)

    def release_order_answers(self) -> None:
        if self.name == "binance":
            self.binance_sim.call(self.binance_sim.sim.binance.order_faults.clear)

    def place_by_hand(self, account: Any, coid: str, price: str) -> None:
        """An order someone placed on the account with another tool."""
        if self.name == "binance":
            self.binance_sim.place(account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                   quantity="0.01", price=price, newClientOrderId=coid)
            return
        import asyncio

        from marketdata.exchanges.base import Credentials, OrderRequest
        from marketdata.exchanges.registry import get_adapter

        client = get_adapter(self.name).trading_client(self.rest, Credentials(account.api_key, account.api_secret))

        async def place() -> None:
            try:
                await client.place(OrderRequest(self.symbol, coid, "buy", "limit", Decimal("0.01"), Decimal(price)))
            finally:
                await client.close()

        asyncio.run(place())


@pytest.fixture(scope="module")
def other_sim() -> Iterator[Any]:
    from marketdata.simulator import SimulatorThread

    with SimulatorThread(seed=17, update_interval=3600, venues=("coinbase", "kraken")) as s:
        s.pause()
        for name in ("coinbase", "kraken"):
            s.set_price(name, "BTC/USD", "60000")
        yield s


@pytest.fixture(params=["binance", "coinbase", "kraken"])
def venue(request: Any, sim: Any, other_sim: Any, live_bot: Any, alice: Any) -> Venue:
    return Venue(request.param, sim, other_sim, live_bot, alice)


def fee_in_base(fill: Any) -> Decimal:
    """What a fill's fee took out of the base received (Binance charges a buy's fee in the coin)."""
    return fill.fee if fill.fee_asset == "BTC" else Decimal(0)


def test_engine_killed_after_the_write_ahead_before_sending_leaves_an_order_the_exchange_confirms_absent(
        venue, worker):
    bot = venue.bot()
    coid = f"bp-kill-before-send-{venue.name}"
    engine = Engine("before-send", bot, coid, rest=venue.rest)
    engine.wait_for("written")
    engine.kill()
    order = Order.objects.get(client_order_id=coid)
    assert order.status == "pending_submit"
    age(order.id)

    reconcile_with_worker(worker)

    order.refresh_from_db()
    assert order.status == "expired"
    assert venue.absent_words in order.last_error
    assert not Fill.objects.filter(order=order).exists()


def test_engine_killed_between_the_write_ahead_and_the_exchanges_ack_gets_the_fill_once(venue, worker):
    bot = venue.bot()
    coid = f"bp-kill-in-flight-{venue.name}"
    venue.hold_order_answers()
    engine = Engine("in-flight", bot, coid, rest=venue.rest)
    engine.wait_for("sending")
    wait_until(lambda: venue.truth(bot.account.api_key, coid) is not None, None)
    engine.kill()  # the exchange filled it; the engine never heard
    venue.release_order_answers()
    order = Order.objects.get(client_order_id=coid)
    assert order.status == "pending_submit"
    age(order.id)

    reconcile_with_worker(worker)
    reconcile_with_worker(worker)

    order.refresh_from_db()
    truth = venue.truth(bot.account.api_key, coid)
    assert order.status == "filled" and truth.status == "FILLED"
    assert order.exchange_order_id in (str(truth.order_id), truth.ref)
    fills = list(Fill.objects.filter(order=order))
    assert len(fills) == len(truth.fills) == 1
    assert order.filled_quantity == truth.executed_qty == Decimal("0.01")
    assert position_quantity(bot) == Decimal("0.01") - fee_in_base(fills[0])


def test_engine_killed_after_the_ack_before_its_fills_are_stored_gets_every_fill_once(venue, worker):
    bot = venue.bot()
    coid = f"bp-kill-after-ack-{venue.name}"
    limit = f"{(venue.best_bid() - 100):.1f}"
    engine = Engine("after-ack", bot, coid, kind="limit", price=limit, rest=venue.rest)
    assert engine.wait_for("acked") == "acked open"
    engine.kill()
    order = Order.objects.get(client_order_id=coid)
    assert order.status == "open" and order.exchange_order_id
    venue.set_price(Decimal(limit) - 50)  # the resting buy fills, unseen
    wait_until(lambda: venue.truth(bot.account.api_key, coid).status == "FILLED", None)

    reconcile_with_worker(worker, n=2)  # two reconcilers at once

    order.refresh_from_db()
    assert order.status == "filled"
    fills = list(Fill.objects.filter(order=order))
    assert len(fills) == 1 and fills[0].price == Decimal(limit)
    assert position_quantity(bot) == Decimal("0.01") - fee_in_base(fills[0])


def test_many_killed_orders_and_an_orphan_reconcile_with_two_reconcilers_at_once(venue, worker):
    bot = venue.bot()
    limit = f"{(venue.best_bid() - 5000):.1f}"
    for i in range(3):
        engine = Engine("before-send" if i == 0 else "after-ack", bot, f"bp-batch-{i}-{venue.name}", rest=venue.rest)
        engine.wait_for("written" if i == 0 else "acked")
        engine.kill()
    venue.place_by_hand(bot.account, "placed-by-hand", limit)
    for order in Order.objects.filter(bot=bot):
        age(order.id)

    reconcile_with_worker(worker, n=2)
    reconcile_with_worker(worker, n=2)

    statuses = dict(Order.objects.filter(bot=bot).values_list("client_order_id", "status"))
    assert statuses == {f"bp-batch-0-{venue.name}": "expired", f"bp-batch-1-{venue.name}": "filled",
                        f"bp-batch-2-{venue.name}": "filled"}
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
