"""Account-wide limits in the portal and the admin: each user sets their own, an admin any user's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import UserLimits

pytestmark = pytest.mark.django_db


def test_alice_sets_her_limits_and_bob_sees_only_his_own_empty_form(client, alice, bob):
    client.force_login(alice)
    response = client.post("/limits/", {"max_exposure": "2500", "max_daily_loss": "300", "max_open_orders": "4"})
    assert response.status_code == 302
    row = UserLimits.objects.get(user=alice)
    assert (row.max_exposure, row.max_daily_loss, row.max_open_orders) == (Decimal("2500"), Decimal("300"), 4)
    client.force_login(bob)
    page = client.get("/limits/").content.decode()
    assert "2500" not in page and "300" not in page
    assert not UserLimits.objects.filter(user=bob).exists()


@pytest.mark.parametrize("field,value", [("max_exposure", "-5"), ("max_daily_loss", "0"), ("max_exposure", "abc"),
                                         ("max_open_orders", "-1"), ("max_exposure", "1" * 40)])
def test_a_bad_limit_shows_a_message_and_saves_nothing(client, alice, field, value):
    client.force_login(alice)
    response = client.post("/limits/", {field: value})
    assert response.status_code == 200
    assert b"Please correct the errors below." in response.content
    assert not UserLimits.objects.filter(user=alice).exists()


def test_empty_fields_mean_no_limit(client, alice):
    client.force_login(alice)
    client.post("/limits/", {"max_exposure": "1000"})
    client.post("/limits/", {"max_exposure": ""})
    row = UserLimits.objects.get(user=alice)
    assert row.max_exposure is None


def test_an_admin_sets_limits_for_any_user(admin_client, alice):
    response = admin_client.post("/admin/bots/userlimits/add/",
                                 {"user": alice.pk, "max_exposure": "900", "max_daily_loss": "", "max_open_orders": ""})
    assert response.status_code == 302, response.content[:2000]
    assert UserLimits.objects.get(user=alice).max_exposure == Decimal("900")
