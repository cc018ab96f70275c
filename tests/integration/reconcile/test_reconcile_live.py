"""Live orders reconcile with the simulator's signed REST API: the exchange's answer decides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.models import Discrepancy, Fill, Order, Position
from bots.services.reconcile import reconcile_orders

from .conftest import write_order

pytestmark = pytest.mark.django_db


def test_pending_order_that_never_reached_the_exchange_expires_on_its_confirmed_absence(live_bot, sim):
    bot = live_bot()
    order = write_order(bot, "bp-never-sent")

    report = reconcile_orders()

    order.refresh_from_db()
    assert order.status == "expired"
    assert "-2013" in order.last_error
    assert order.closed_at is not None
    assert report.orders == 1 and report.changed == 1


def test_pending_order_within_its_grace_period_is_left_to_the_engine(live_bot, sim):
    order = write_order(live_bot(), "bp-in-flight", age=1)

    reconcile_orders()

    order.refresh_from_db()
    assert order.status == "pending_submit"


def test_order_accepted_but_never_acknowledged_becomes_open_with_its_exchange_id(live_bot, sim):
    bot = live_bot()
    order = write_order(bot, "bp-ack-lost", price="1000")
    placed = sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="0.01", price="1000.00", newClientOrderId="bp-ack-lost")

    reconcile_orders()

    order.refresh_from_db()
    assert order.status == "open"
    assert order.exchange_order_id == str(placed["orderId"])


def test_fill_missed_while_the_engine_was_down_is_recorded_once_with_its_position(live_bot, sim):
    bot = live_bot()
    order = write_order(bot, "bp-filled-unseen", type="market", price=None, status="submitted")
    sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
              newClientOrderId="bp-filled-unseen")

    first = reconcile_orders()
    second = reconcile_orders()

    order.refresh_from_db()
    assert order.status == "filled"
    assert order.filled_quantity == Decimal("0.01")
    assert Fill.objects.filter(order=order).count() == 1
    assert first.fills == 1 and second.fills == 0
    position = Position.objects.get(bot=bot, closed_at__isnull=True)
    fill = Fill.objects.get(order=order)
    assert fill.fee_asset == "BTC"  # Binance keeps a buy's fee out of the bought coin
    assert position.quantity == Decimal("0.01") - fill.fee
    assert position.average_entry == order.average_fill_price


def test_orphan_order_on_the_exchange_becomes_one_discrepancy_for_its_owner_only(live_bot, sim, alice, bob):
    bot = live_bot()
    sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
              quantity="0.01", price="1000.00", newClientOrderId="manual-by-hand")

    reconcile_orders()
    reconcile_orders()

    found = Discrepancy.objects.for_user(alice).get(kind="unknown_order_on_exchange")
    assert found.data["client_order_id"] == "manual-by-hand"
    assert found.status == "open"
    assert not Discrepancy.objects.for_user(bob).exists()
    assert not Order.objects.filter(client_order_id="manual-by-hand").exists()


def test_a_cancel_lost_on_the_way_leaves_the_order_open_as_the_exchange_has_it(live_bot, sim):
    from datetime import timedelta

    from django.utils import timezone

    bot = live_bot()
    placed = sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="0.01", price="1000.00", newClientOrderId="bp-cancel-lost")
    order = write_order(bot, "bp-cancel-lost", price="1000", status="pending_cancel",
                        exchange_order_id=str(placed["orderId"]))
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=2))

    reconcile_orders()

    order.refresh_from_db()
    assert order.status == "open"
    assert "never received the cancel" in order.last_error


def test_an_order_whose_row_claims_fills_it_has_no_fill_rows_for_gets_them_fetched(live_bot, sim):
    bot = live_bot()
    order = write_order(bot, "bp-claimed", type="market", price=None, status="open",
                        filled_quantity=Decimal("0.01"))
    sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
              newClientOrderId="bp-claimed")

    reconcile_orders()

    order.refresh_from_db()
    assert order.status == "filled"
    assert Fill.objects.filter(order=order).count() == 1
    assert not Discrepancy.objects.filter(kind="missed_fill", status="open").exists()
