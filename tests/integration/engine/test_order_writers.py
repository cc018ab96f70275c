"""The engine's order writer never moves an order backwards over what reconciliation recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from bots.engine import types as core
from bots.models import Order
from bots.services.orders import update_order

pytestmark = pytest.mark.django_db


def engine_view(row: Order, status: str, filled: str) -> core.Order:
    from marketdata.feeds.types import Instrument

    order = core.Order(
        client_order_id=row.client_order_id, bot_id=row.bot_id, instrument=Instrument("simulator", "BTC/USDT"),
        side="buy", type="market", quantity=row.quantity, price=None, created_at=timezone.now(),
    )
    order.status = status
    order.filled_quantity = Decimal(filled)
    return order


def test_a_late_engine_update_does_not_reopen_an_order_reconciliation_filled(make_bot, alice):
    row = Order.objects.create(bot=make_bot(alice), side="buy", quantity=Decimal("1"), status="filled",
                               filled_quantity=Decimal("1"), average_fill_price=Decimal("100"))
    assert update_order(engine_view(row, "open", "0")) == 0
    row.refresh_from_db()
    assert (row.status, row.filled_quantity) == ("filled", Decimal("1"))


def test_fills_never_go_backwards_but_progress_is_applied(make_bot, alice):
    row = Order.objects.create(bot=make_bot(alice), side="buy", quantity=Decimal("1"), status="partially_filled",
                               filled_quantity=Decimal("0.5"))
    assert update_order(engine_view(row, "partially_filled", "0.25")) == 0
    assert update_order(engine_view(row, "filled", "1")) == 1
    row.refresh_from_db()
    assert (row.status, row.filled_quantity) == ("filled", Decimal("1"))
    assert row.events.filter(status="filled").exists()
