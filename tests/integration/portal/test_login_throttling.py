"""Failed log-ins are throttled per account and per client address (django-axes): a clear message,
the right password refused while locked, and an admin lifts the lock from the admin site."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

LIMIT = 5


def attempt(client: Client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_an_account_is_locked_after_repeated_wrong_passwords_even_from_new_addresses(alice, settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    client = Client()
    for i in range(LIMIT - 1):
        response = attempt(client, "alice", f"wrong-{i}", ip=f"198.51.100.{i + 1}")
        assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()
    attempt(client, "alice", "wrong-last", ip="198.51.100.99")
    locked = attempt(client, "alice", "alice-pass-123", ip="198.51.100.200")  # the right password, new address
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode() and "15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_address_guessing_many_accounts_is_locked_out(alice, bob, settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    client = Client()
    for i in range(LIMIT):
        attempt(client, f"nobody{i}", "guess", ip="192.0.2.50")
    assert attempt(client, "bob", "bob-pass-123", ip="192.0.2.50").status_code == 429
    assert attempt(Client(), "bob", "bob-pass-123", ip="192.0.2.51").status_code == 302  # others unaffected


def test_an_admin_lifts_the_lock_from_the_admin_site(alice, admin_client_, settings):
    from axes.models import AccessAttempt

    settings.AXES_FAILURE_LIMIT = LIMIT
    client = Client()
    for i in range(LIMIT):
        attempt(client, "alice", f"wrong-{i}")
    assert attempt(client, "alice", "alice-pass-123").status_code == 429
    ids = [str(pk) for pk in AccessAttempt.objects.filter(username="alice").values_list("pk", flat=True)]
    assert admin_client_.get("/admin/axes/accessattempt/").status_code == 200
    response = admin_client_.post("/admin/axes/accessattempt/", {"action": "delete_selected",
                                                                 "_selected_action": ids, "post": "yes"})
    assert response.status_code == 302 and not AccessAttempt.objects.filter(username="alice").exists()
    assert attempt(client, "alice", "alice-pass-123").status_code == 302


def test_a_successful_login_resets_the_count(alice, settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    client = Client()
    for i in range(LIMIT - 1):
        attempt(client, "alice", f"wrong-{i}")
    assert attempt(client, "alice", "alice-pass-123").status_code == 302
    client.post("/accounts/logout/")
    for i in range(LIMIT - 1):
        attempt(client, "alice", f"again-{i}", ip="203.0.113.8")
    assert attempt(client, "alice", "alice-pass-123", ip="203.0.113.8").status_code == 302
