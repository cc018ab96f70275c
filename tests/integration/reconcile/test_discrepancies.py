"""Discrepancies: position differences found, and each kind resolved by adopt / ignore / flatten,
from the services and from the admin's actions (scoped to the owner)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import Discrepancy, Order, Position
from bots.services.reconcile import reconcile_orders
from bots.services.reconcile_resolve import adopt_discrepancy, flatten_discrepancy, ignore_discrepancy

pytestmark = pytest.mark.django_db


def orphan(live_bot, sim, coid: str = "by-hand"):
    bot = live_bot()
    placed = sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="0.01", price="1000.00", newClientOrderId=coid)
    reconcile_orders()
    return bot, placed, Discrepancy.objects.get(kind="unknown_order_on_exchange", account=bot.account)


def test_a_position_the_exchange_balance_cannot_cover_is_a_discrepancy_and_adopting_shrinks_it(live_bot, sim):
    from bots.models import ExchangeAccount
    from marketdata.models import Exchange

    key, secret = sim.add_account({"USDT": "1000", "BTC": "0.25"})
    account = ExchangeAccount.objects.create(owner=live_bot().owner, exchange=Exchange.objects.get(code="simulator"),
                                             label="thin", api_key=key, api_secret=secret)
    bot = live_bot(account=account)
    Position.objects.create(bot=bot, market=bot.market, quantity=Decimal("1"), average_entry=Decimal("50000"),
                            opened_at=timezone.now())

    reconcile_orders(full=True)
    reconcile_orders(full=True)

    found = Discrepancy.objects.get(kind="position_mismatch")
    assert (Decimal(found.data["ours"]), Decimal(found.data["exchange"])) == (1, Decimal("0.25"))
    assert found.account == account
    adopt_discrepancy(found, actor="alice")
    assert Position.objects.get(bot=bot).quantity == Decimal("0.25")
    found.refresh_from_db()
    assert found.status == "adopted" and "alice" in found.resolution
    reconcile_orders(full=True)
    assert Discrepancy.objects.filter(kind="position_mismatch", status="open").count() == 0


def test_adopting_an_orphan_order_makes_it_ours_and_reconciliation_then_follows_it(live_bot, sim):
    bot, placed, found = orphan(live_bot, sim)

    adopt_discrepancy(found)
    reconcile_orders()

    order = Order.objects.get(client_order_id="by-hand")
    assert (order.bot, order.status, order.exchange_order_id) == (bot, "open", str(placed["orderId"]))
    assert Discrepancy.objects.filter(account=bot.account).count() == 1


def test_flattening_an_orphan_cancels_it_on_the_exchange(live_bot, sim):
    bot, _, found = orphan(live_bot, sim)

    flatten_discrepancy(found, actor="admin")

    assert sim.order(bot.account.api_key, "by-hand").status == "CANCELED"
    found.refresh_from_db()
    assert found.status == "flattened"
    with pytest.raises(ValueError, match="already flattened"):
        ignore_discrepancy(found)


def test_an_ignored_discrepancy_stays_ignored_when_found_again(live_bot, sim):
    bot, _, found = orphan(live_bot, sim)

    ignore_discrepancy(found)
    reconcile_orders()

    assert list(Discrepancy.objects.filter(account=bot.account).values_list("status", flat=True)) == ["ignored"]


def test_admin_actions_resolve_for_the_owner_and_hide_alices_rows_from_bob(live_bot, sim, alice, bob, client,
                                                                          django_user_model):
    _, _, found = orphan(live_bot, sim)
    admin = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "admin-pass-123")
    bob.is_staff = True
    bob.save()
    url = "/admin/bots/discrepancy/"

    client.force_login(bob)
    assert found.message not in client.get(url).content.decode()

    client.force_login(admin)
    page = client.get(url)
    assert page.status_code == 200 and found.message in page.content.decode()
    response = client.post(url, {"action": "ignore", "_selected_action": [found.pk]}, follow=True)

    assert response.status_code == 200
    found.refresh_from_db()
    assert found.status == "ignored" and "admin" in found.resolution
    assert client.get("/admin/bots/dailypnlsnapshot/").status_code == 200
