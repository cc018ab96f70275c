"""The engine's writers: write-ahead order rows, their changes, fills once, one open position."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots.engine import types as core
from bots.engine.positions import AMOUNTS
from bots.engine.positions import Position as CorePosition
from bots.models import Bot, Fill, Order, Position
from bots.services.engine_state import apply_engine_status, record_engine_events, touch_heartbeats
from bots.services.orders import create_order, record_fill, update_order
from bots.services.positions import engine_position, save_position
from bots.services.reconcile_apply import apply_fill_to_position
from bots.services.rows import risk_settings
from marketdata.feeds.types import Instrument

pytestmark = pytest.mark.django_db
D = Decimal
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def bot(make_bot, alice):
    return make_bot(alice)


def core_order(bot, **kw):
    values = dict(client_order_id="bp-test-1", bot_id=bot.id, instrument=Instrument("simulator", "BTC/USDT"),
                  side="buy", type="market", quantity=D("0.123456789012"), price=None, created_at=NOW)
    values.update(kw)
    return core.Order(**values)


def test_an_order_is_written_pending_submit_with_its_client_id_and_logged(bot):
    create_order(core_order(bot), is_paper=True)
    row = Order.objects.get(client_order_id="bp-test-1")
    assert row.status == "pending_submit" and row.quantity == D("0.123456789012") and row.is_paper
    assert list(row.events.values_list("status", "message")) == [("pending_submit", "created")]


def test_an_order_update_records_status_fills_and_close_time_and_is_logged(bot):
    order = core_order(bot)
    create_order(order)
    order.apply_fill(core.Fill("bp-test-1", "T1", "buy", D("60000.5"), order.quantity, D("0.01"), "USDT", NOW))
    order.exchange_order_id = "42"
    update_order(order, "ack")
    row = Order.objects.get(client_order_id="bp-test-1")
    assert (row.status, row.exchange_order_id, row.filled_quantity, row.average_fill_price) == \
        ("filled", "42", order.quantity, D("60000.5"))
    assert row.closed_at is not None and row.events.count() == 2


def test_a_fill_is_stored_once_however_often_it_is_reported(bot):
    order = core_order(bot)
    create_order(order)
    fill = core.Fill("bp-test-1", "T1", "buy", D("60000.5"), order.quantity, D("0.01"), "USDT", NOW, True)
    assert record_fill("bp-test-1", fill, bot.exchange_id) is True
    assert record_fill("bp-test-1", fill, bot.exchange_id) is False
    assert Fill.objects.get().is_maker and Fill.objects.count() == 1


def test_a_position_is_opened_updated_and_closed_with_one_open_row(bot):
    save_position(bot.id, bot.market_id, {"quantity": "1.5", "average_entry": "100", "realized_pnl": "-0.1",
                                          "stop_loss_price": "98", "opened_at": NOW.isoformat()})
    save_position(bot.id, bot.market_id, {"quantity": "2", "average_entry": "101", "realized_pnl": "-0.2"})
    assert Position.objects.count() == 1 and Position.objects.get().quantity == D(2)
    assert D(engine_position(bot.id, bot.market_id)["average_entry"]) == D(101)
    save_position(bot.id, bot.market_id, {"quantity": "0", "realized_pnl": "5"})
    closed = Position.objects.get()
    assert closed.closed_at is not None and closed.realized_pnl == D(5)
    save_position(bot.id, bot.market_id, {"quantity": "1", "average_entry": "90", "realized_pnl": "-0.09"})
    assert Position.objects.open().count() == 1 and Position.objects.count() == 2
    restored = engine_position(bot.id, bot.market_id)
    assert D(restored["quantity"]) == 1 and D(restored["realized_total"]) == D("4.91")


def test_the_engines_position_and_its_row_share_one_set_of_names():
    columns = {f.name for f in Position._meta.get_fields()}
    assert set(AMOUNTS) <= columns
    assert set(AMOUNTS) <= set(CorePosition("BTC").to_dict())


def test_a_position_survives_the_row_exactly_and_comes_back_as_the_engine_had_it(make_bot, alice):
    bot = make_bot(alice, stop_loss_pct=D(2), take_profit_pct=D(5), trailing_stop_pct=D(3))
    risk = risk_settings(bot)
    engine = CorePosition("BTC")
    engine.apply_fill(core.Fill("c1", "T1", "buy", D("60000.123456789012"), D("0.5"), D("1.5"), "USDT", NOW), risk)
    engine.check_exit(D("61000"))  # the trailing high moves
    save_position(bot.id, bot.market_id, engine.to_dict())
    row = Position.objects.get()
    assert {name: getattr(row, name) for name in AMOUNTS} == {name: getattr(engine, name) for name in AMOUNTS}
    back = CorePosition.from_dict(engine_position(bot.id, bot.market_id), risk, "BTC")
    assert {name: getattr(back, name) for name in AMOUNTS} == {name: getattr(engine, name) for name in AMOUNTS}
    assert back.opened_at == engine.opened_at == NOW


def test_reconciliation_moves_a_position_with_the_same_mapping_as_the_engine(make_bot, alice):
    bot = make_bot(alice, stop_loss_pct=D(2), trailing_stop_pct=D(3))
    engine = CorePosition("BTC")
    fills = [core.Fill("c1", f"T{i}", "buy", D(price), D("0.1"), D(0), "USDT", NOW) for i, price in
             enumerate(["100", "110"])]
    for fill in fills:
        engine.apply_fill(fill, risk_settings(bot))
        apply_fill_to_position(bot, fill)
    row = Position.objects.get()
    assert row.trailing_stop_price == engine.trailing_stop_price is not None
    assert {name: getattr(row, name) for name in AMOUNTS} == {name: getattr(engine, name) for name in AMOUNTS}


def test_a_bot_the_engine_resumes_running_is_not_taken_for_stale_by_the_watchdog(bot):
    from bots.services.jobs import mark_stale_bots

    stale = timezone.now() - timedelta(minutes=5)
    Bot.objects.filter(pk=bot.pk).update(status="paused", heartbeat_at=stale)
    apply_engine_status(bot.id, "paused", "Paused by request")  # says nothing of liveness
    assert Bot.objects.get(pk=bot.pk).heartbeat_at == stale
    apply_engine_status(bot.id, "running")  # a restarted engine resumed it, before its first heartbeat tick
    assert mark_stale_bots() == []
    assert Bot.objects.get(pk=bot.pk).status == "running"


def test_status_heartbeats_and_events_are_written_for_the_engine(bot):
    apply_engine_status(bot.id, "error", "ValueError: boom")
    touch_heartbeats([bot.id], NOW)
    record_engine_events([(bot.id, "risk", {"approved": False, "reasons": ["No position to sell"],
                                            "price": D("1.5")})])
    bot.refresh_from_db()
    assert (bot.status, bot.status_reason, bot.heartbeat_at) == ("error", "ValueError: boom", NOW)
    event = bot.events.get(kind="risk")
    assert "No position to sell" in event.message and event.data["price"] == "1.5"
