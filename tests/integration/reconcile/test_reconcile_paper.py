"""Paper orders reconcile against the paper broker's book the same way live ones do against the venue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bots.engine.brokers.paper import PaperBroker
from bots.engine.ports import SystemClock
from bots.engine.types import Order as CoreOrder
from bots.services.reconcile import client_factory, reconcile_orders
from marketdata.feeds.types import Instrument

from .conftest import write_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker():
    return PaperBroker(SystemClock())


def rest_on(book: PaperBroker, bot, coid: str) -> None:
    order = CoreOrder(coid, bot.id, Instrument("simulator", "BTC/USDT"), "buy", "limit", Decimal("0.01"),
                      Decimal("100"), datetime.now(UTC), exchange_order_id="paper-9")
    book.resting.setdefault(order.instrument, {})[coid] = order


def test_a_paper_order_lost_with_its_engine_expires_and_an_open_one_is_left_to_the_engine(make_bot, alice):
    bot = make_bot(alice)
    lost = write_order(bot, "bp-paper-lost", status="pending_submit")
    unknown = write_order(bot, "bp-paper-unknown", status="unknown")
    resting = write_order(bot, "bp-paper-open", status="open", exchange_order_id="paper-1")
    fresh = write_order(bot, "bp-paper-fresh", status="pending_submit", age=1)

    reconcile_orders()

    statuses = {o.client_order_id: o.status for o in bot.orders.all()}
    assert statuses == {lost.client_order_id: "expired", unknown.client_order_id: "expired",
                        resting.client_order_id: "open", fresh.client_order_id: "pending_submit"}
    assert "paper book" in bot.orders.get(pk=lost.pk).last_error


def test_a_paper_order_resting_on_the_engines_book_becomes_open(make_bot, alice, bob, broker):
    bot = make_bot(alice)
    other = make_bot(bob, name="bob's paper bot")
    order = write_order(bot, "bp-paper-resting", status="unknown")
    bobs = write_order(other, "bp-bob-lost", status="unknown")
    rest_on(broker, bot, "bp-paper-resting")
    on_this_book = client_factory(broker)

    reconcile_orders(bot_ids=[bot.id], client_factory=on_this_book)

    order.refresh_from_db()
    bobs.refresh_from_db()
    assert (order.status, order.exchange_order_id) == ("open", "paper-9")
    assert bobs.status == "unknown"  # only the bots asked for


def test_an_order_on_the_paper_book_that_we_have_no_row_for_is_an_orphan(make_bot, alice, broker):
    bot = make_bot(alice)
    write_order(bot, "bp-paper-ours", status="unknown")
    rest_on(broker, bot, "bp-paper-stray")
    on_this_book = client_factory(broker)

    reconcile_orders(client_factory=on_this_book)

    found = bot.discrepancies.get()
    assert (found.kind, found.data["client_order_id"], found.owner) == (
        "unknown_order_on_exchange", "bp-paper-stray", alice)
