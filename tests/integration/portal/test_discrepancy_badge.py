"""Reconciliation's findings show as a badge on every portal page, to their owner only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bots.models import Discrepancy

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_orphan(alice, alice_account):
    return Discrepancy.objects.create(
        owner=alice, account=alice_account, kind="unknown_order_on_exchange", key="alice-orphan-1",
        symbol="BTC/USDT", message="Order 4242 on the exchange is not ours",
    )


def test_the_owner_sees_a_badge_with_the_open_count_and_the_finding(alice_client, alice_orphan):
    dashboard = alice_client.get(reverse("dashboard")).content.decode()
    assert 'id="discrepancy-badge"' in dashboard and "Discrepancies 1" in dashboard
    page = alice_client.get(reverse("discrepancies")).content.decode()
    assert "Order 4242 on the exchange is not ours" in page


def test_another_user_sees_no_badge_and_none_of_the_findings(bob_client, alice_orphan):
    assert 'id="discrepancy-badge"' not in bob_client.get(reverse("dashboard")).content.decode()
    assert "4242" not in bob_client.get(reverse("discrepancies")).content.decode()


def test_a_resolved_finding_leaves_the_badge(alice_client, alice_orphan):
    alice_orphan.status = "ignored"
    alice_orphan.save(update_fields=["status"])
    assert 'id="discrepancy-badge"' not in alice_client.get(reverse("dashboard")).content.decode()
