"""Notifications: a user picks events and channels; fills, errors, unrequested pauses and
discrepancies reach their e-mail (Django's mail backend) and their webhook (a real HTTP server on
loopback) through the Celery task; a per-user rate limit holds the excess back; bob gets nothing of
alice's; webhooks to private addresses are refused in production."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from bots.models import Notification, NotificationSettings
from bots.services.notifications import _enqueue as ORIGINAL_ENQUEUE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def webhook():
    """A loopback HTTP server that records every POST body."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def run_pending() -> None:
    """Deliver what notify() queued: the task body, as a Celery worker runs it."""
    from bots.tasks import deliver_notification

    for pk in Notification.objects.filter(status="pending").values_list("pk", flat=True):
        deliver_notification.apply(args=[pk])


@pytest.fixture(autouse=True)
def deliver_in_tests(monkeypatch):
    """In the test the task runs when the test says (run_pending), not on the background thread."""
    from bots.services import notifications

    monkeypatch.setattr(notifications, "_enqueue", lambda pk: None)


def subscribe(client, **data) -> None:
    response = client.post("/notifications/", data)
    assert response.status_code == 302, response.content.decode()[-2000:]


def record_a_fill(bot, client_order_id="bp-alice-filled-1", trade="t-9"):
    from bots.engine.types import Fill
    from bots.services.orders import record_fill

    fill = Fill(client_order_id, trade, "buy", Decimal("50010.5"), Decimal("0.01"), Decimal(0), "USDT",
                datetime.now(UTC))
    return record_fill(client_order_id, fill, bot.exchange_id)


def test_alice_gets_her_fills_by_email_and_webhook_and_bob_gets_nothing(alice_client, bob_client, alice_bot, bob,
                                                                         webhook, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    url, received = webhook
    subscribe(alice_client, kinds=["fill", "error"], email="alice@example.invalid", webhook_url=url)
    subscribe(bob_client, kinds=["fill"], email="bob@example.invalid")
    assert record_a_fill(alice_bot)
    run_pending()
    assert [m.to for m in mail.outbox] == [["alice@example.invalid"]]
    assert "Alice BTC" in mail.outbox[0].subject and "50010.5" in mail.outbox[0].body
    assert received and received[0]["kind"] == "fill" and received[0]["bot_id"] == alice_bot.pk
    row = Notification.objects.get()
    assert (row.owner_id, row.status, row.channels) == (alice_bot.owner_id, "sent", "email,webhook")
    html = alice_client.get("/notifications/").content.decode()
    assert "Alice BTC: buy 0.01 BTC/USDT" in html and "Sent" in html
    assert "Alice BTC" not in bob_client.get("/notifications/").content.decode()


def test_a_kind_not_chosen_is_not_sent(alice_client, alice_bot, settings):
    subscribe(alice_client, kinds=["error"], email="alice@example.invalid")
    record_a_fill(alice_bot)
    assert not Notification.objects.exists()


def test_errors_and_unrequested_pauses_are_notified_but_the_owners_own_pause_is_not(alice_client, alice_bot):
    from bots import services
    from bots.services.engine_state import apply_engine_status

    subscribe(alice_client, kinds=["error", "paused"], email="alice@example.invalid")
    services.pause_bot(alice_bot, actor="alice")
    apply_engine_status(alice_bot.pk, "paused", "Paused by request")
    assert not Notification.objects.exists()
    apply_engine_status(alice_bot.pk, "paused", "Daily loss limit reached")
    apply_engine_status(alice_bot.pk, "error", "Exchange rejected the API key")
    assert list(Notification.objects.order_by("id").values_list("kind", "message")) == [
        ("paused", "Daily loss limit reached"), ("error", "Exchange rejected the API key")]


def test_a_discrepancy_found_by_reconciliation_is_notified(alice_client, alice, alice_bot):
    from bots.reconcile.plan import Finding
    from bots.services.reconcile_apply import record_finding

    subscribe(alice_client, kinds=["discrepancy"], email="alice@example.invalid")
    record_finding(Finding("missed_fill", "k-1", "A fill we had missed", {}), owner_id=alice.pk, account_id=None,
                   bot_id=alice_bot.pk, symbol="BTC/USDT")
    row = Notification.objects.get()
    assert row.kind == "discrepancy" and "missed" in row.message


def test_more_than_the_hourly_limit_are_held_back(alice_client, alice_bot, settings):
    settings.NOTIFY_RATE_PER_HOUR = 3
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    subscribe(alice_client, kinds=["fill"], email="alice@example.invalid")
    for i in range(5):
        record_a_fill(alice_bot, trade=f"t-{i}")
    run_pending()
    assert sorted(Notification.objects.values_list("status", flat=True)) == ["held"] * 2 + ["sent"] * 3
    assert len(mail.outbox) == 3
    assert "Held back" in alice_client.get("/notifications/").content.decode()


def test_delivery_is_idempotent(alice_client, alice_bot, settings):
    from bots.tasks import deliver_notification

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    subscribe(alice_client, kinds=["fill"], email="alice@example.invalid")
    record_a_fill(alice_bot)
    pk = Notification.objects.get().pk
    assert deliver_notification.apply(args=[pk]).get() == "sent"
    assert deliver_notification.apply(args=[pk]).get() == "gone"
    assert len(mail.outbox) == 1


def test_a_failing_webhook_marks_the_notification_failed(alice_client, alice_bot):
    subscribe(alice_client, kinds=["fill"], webhook_url="http://127.0.0.1:9/nothing-listens")
    record_a_fill(alice_bot)
    run_pending()
    row = Notification.objects.get()
    assert row.status == "failed" and row.error.startswith("webhook:")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "http://10.1.2.3/x", "http://[::1]/x",
                                 "http://169.254.169.254/latest/meta-data", "http://localhost/x",
                                 "ftp://93.184.216.34/x", "http://user:pw@93.184.216.34/x"])
def test_private_or_odd_webhooks_are_refused_in_production(alice_client, settings, url):
    settings.NOTIFY_ALLOW_PRIVATE_WEBHOOKS = False
    html = alice_client.post("/notifications/", {"kinds": ["fill"], "webhook_url": url}).content.decode()
    assert "has-error" in html
    assert not NotificationSettings.objects.filter(webhook_url=url).exists()


def test_a_public_webhook_is_accepted_in_production(alice_client, alice, settings):
    settings.NOTIFY_ALLOW_PRIVATE_WEBHOOKS = False
    subscribe(alice_client, kinds=["fill"], webhook_url="https://93.184.216.34/hook")
    assert NotificationSettings.objects.get(owner=alice).webhook_url == "https://93.184.216.34/hook"


def test_choosing_events_without_a_channel_is_refused(alice_client):
    html = alice_client.post("/notifications/", {"kinds": ["fill"], "email": "", "webhook_url": ""}).content.decode()
    assert "Give an e-mail address or a webhook URL" in html


def test_in_the_single_machine_mode_delivery_runs_off_the_callers_thread(alice_client, alice_bot, settings):
    import time

    from botplatform.celery import local_threads

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    subscribe(alice_client, kinds=["fill"], email="alice@example.invalid")
    record_a_fill(alice_bot)
    pk = Notification.objects.get().pk
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the single-machine mode (no broker, no worker)
    ORIGINAL_ENQUEUE(pk)
    deadline = time.monotonic() + 10
    # Until delivery records its channels: the row is claimed as "sent" before the mail goes out (at most
    # once), so waiting for the status alone raced the send (seen once in a full run).
    while not Notification.objects.get(pk=pk).channels:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert Notification.objects.get(pk=pk).status == "sent" and len(mail.outbox) == 1
    assert [t for t in local_threads() if "notify" in t.name]  # the stand-in worker thread did it
