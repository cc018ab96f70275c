"""Exchange errors and timeouts: retried, backed off, and never taken for "not found"."""

from __future__ import annotations

import socket
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import Fill, Order, OrderEvent, Position
from bots.reconcile.types import VenueUnavailable
from bots.services import reconcile as reconcile_service
from bots.services.reconcile import default_client, reconcile_orders
from tests.conftest import requires_postgres

from .conftest import write_order


class Flaky:
    """A venue client whose first ``failures`` calls of every kind fail like a 502 would."""

    def __init__(self, inner, failures: int) -> None:
        self.inner, self.failures, self.calls = inner, failures, 0

    def __getattr__(self, name):
        target = getattr(self.inner, name)
        if name not in ("open_orders", "order", "trades", "balances"):
            return target

        async def call(*args, **kwargs):
            self.calls += 1
            if self.failures > 0:
                self.failures -= 1
                raise VenueUnavailable("ExchangeNotAvailable: 502 Bad Gateway")
            return await target(*args, **kwargs)
        return call

    @property
    def requests(self):
        return self.inner.requests


@pytest.fixture
def fast_retries(settings):
    settings.RECONCILE_RETRY_DELAY_SECONDS = 0.01
    settings.RECONCILE_RETRIES = 2
    return settings


@pytest.mark.django_db
def test_exchange_errors_are_retried_within_the_run_until_the_answer_comes(live_bot, sim, fast_retries):
    bot = live_bot()
    order = write_order(bot, "bp-flaky", price="1000")
    sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
              quantity="0.01", price="1000.00", newClientOrderId="bp-flaky")
    clients = []

    def factory(batch, account):
        clients.append(Flaky(default_client(batch, account), failures=2))
        return clients[-1]

    reconcile_orders(client_factory=factory)

    order.refresh_from_db()
    assert order.status == "open"
    assert clients[0].failures == 0 and clients[0].calls > 2


@pytest.mark.django_db
def test_an_exchange_that_keeps_failing_leaves_the_order_unknown_and_backs_off(live_bot, sim, fast_retries):
    bot = live_bot()
    order = write_order(bot, "bp-down")

    def down(batch, account):
        return Flaky(default_client(batch, account), failures=10_000)

    first = reconcile_orders(client_factory=down)
    order.refresh_from_db()
    assert order.status == "unknown"
    assert first.unreachable == 1
    assert OrderEvent.objects.filter(order=order, data__reconcile_attempt=1).exists()

    soon = reconcile_orders(client_factory=down)  # inside the 5 s backoff: not asked again
    assert soon.orders == 0

    later = reconcile_orders(now=timezone.now() + timedelta(seconds=6))  # the exchange is back
    order.refresh_from_db()
    assert later.orders == 1
    assert order.status == "expired"  # only now, on the exchange's confirmed -2013


@pytest.fixture
def black_hole():
    """A TCP port that accepts connections and never answers: every request times out."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/binance"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.django_db
def test_a_timeout_is_never_taken_for_not_found(live_bot, black_hole, settings, fast_retries):
    from marketdata.models import Exchange

    settings.RECONCILE_TIMEOUT_SECONDS = 0.3
    settings.RECONCILE_RETRIES = 1
    bot = live_bot()
    pending = write_order(bot, "bp-timeout-pending")
    open_order = write_order(bot, "bp-timeout-open", status="open", exchange_order_id="42")
    Exchange.objects.filter(code="simulator").update(rest_url=black_hole)

    report = reconcile_orders()

    pending.refresh_from_db()
    open_order.refresh_from_db()
    assert (pending.status, open_order.status) == ("unknown", "open")
    assert "RequestTimeout" in pending.last_error
    assert report.unreachable == 2


def run_together(n: int, **kwargs) -> list:
    """``n`` reconcilers started at the same instant, each on its own thread and DB connection."""
    from django.db import connection

    barrier, reports, errors = threading.Barrier(n), [], []

    def one():
        try:
            barrier.wait(5)
            reports.append(reconcile_orders(**kwargs))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return reports


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("account_lock", [
    True,
    # SQLite has no row locks (the embedded default is one process, serialised by the account lock)
    pytest.param(False, marks=requires_postgres),
], ids=["with the account lock", "with row locks alone"])
def test_two_reconcilers_at_once_count_every_fill_once(live_bot, sim, monkeypatch, account_lock):
    bot = live_bot()
    orders = []
    for i in range(4):
        coid = f"bp-race-{account_lock}-{i}"
        orders.append(write_order(bot, coid, type="market", price=None, status="submitted"))
        sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
                  newClientOrderId=coid)
    if not account_lock:
        from contextlib import contextmanager

        @contextmanager
        def no_lock(scope):
            yield True
        monkeypatch.setattr(reconcile_service, "scope_lock", no_lock)

    reports = run_together(2)

    assert sum(r.fills for r in reports) == 4
    assert Fill.objects.filter(order__bot=bot).count() == 4
    assert all(o.status == "filled" for o in Order.objects.filter(bot=bot))
    fees = sum(f.fee for f in Fill.objects.filter(order__bot=bot))
    assert Position.objects.get(bot=bot, closed_at__isnull=True).quantity == Decimal("0.04") - fees
    if account_lock:
        assert sorted(r.skipped_busy for r in reports) in ([0, 0], [0, 1])
