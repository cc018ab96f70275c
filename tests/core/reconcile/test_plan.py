"""The planner, with no database and no network: the venue's answer decides, errors never do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bots.reconcile.plan import Known, plan_batch, to_query, trades_missing
from bots.reconcile.types import BatchTruth, LocalOrder, OrderAbsent, VenueOrder, VenueTrade, VenueUnavailable

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=30)
D = Decimal


def local(i: int, status: str = "open", exchange_id: str = "", filled: str = "0") -> LocalOrder:
    return LocalOrder(i, f"c{i}", exchange_id, status, D("1"), D(filled), NOW - timedelta(minutes=5))


def venue(i: int, status: str = "open", filled: str = "0") -> VenueOrder:
    return VenueOrder(f"c{i}", f"x{i}", status, D("1"), D(filled), "buy", "limit", D("100"))


def trade(tid: str, order: str, age: float = 60) -> VenueTrade:
    return VenueTrade(tid, order, "buy", D("100"), D("1"), D("0.001"), "BTC", NOW - timedelta(seconds=age))


def plan(orders, truth, known=None):
    return plan_batch("acct:1", "BTC/USDT", orders, truth, known or Known(), now=NOW, grace=GRACE)


def test_an_order_the_venue_lists_unchanged_needs_nothing():
    assert plan([local(1, exchange_id="x1")], BatchTruth(open_orders=[venue(1)])).is_empty


def test_an_unacknowledged_order_the_venue_lists_becomes_open_and_learns_its_exchange_id():
    p = plan([local(1, "unknown")], BatchTruth(open_orders=[venue(1)]))
    assert [(c.order_id, c.status, c.exchange_order_id) for c in p.changes] == [(1, "open", "x1")]


def test_a_confirmed_absent_unsent_order_expires_with_the_venues_reason():
    p = plan([local(1, "pending_submit")], BatchTruth(queried={"c1": OrderAbsent("-2013")}))
    assert p.changes[0].status == "expired"
    assert "-2013" in p.changes[0].reason


def test_a_confirmed_absent_order_being_cancelled_is_canceled():
    p = plan([local(1, "pending_cancel", "x1")], BatchTruth(queried={"c1": OrderAbsent("-2013")}))
    assert p.changes[0].status == "canceled"


def test_no_answer_is_never_not_found_the_order_waits_as_unknown():
    p = plan([local(1, "pending_submit"), local(2, "open", "x2")],
             BatchTruth(queried={"c1": VenueUnavailable("timeout"), "c2": VenueUnavailable("502")}))
    assert set(p.unreachable) == {1, 2}
    assert [(c.order_id, c.status) for c in p.changes] == [(1, "unknown")]
    assert not any(c.status in ("expired", "rejected", "canceled") for c in p.changes)


def test_a_plan_never_moves_an_order_backwards():
    p = plan([local(1, "partially_filled", "x1", filled="0.5")], BatchTruth(open_orders=[venue(1, "open", "0.5")]))
    assert p.is_empty


def test_the_venues_final_status_and_its_trades_are_taken():
    p = plan([local(1, "open", "x1")], BatchTruth(queried={"c1": venue(1, "filled", "1")},
                                                  trades=[trade("t1", "x1")]))
    assert [(c.status, c.venue_filled) for c in p.changes] == [("filled", D("1"))]
    assert [(f.order_id, f.trade.trade_id) for f in p.fills] == [(1, "t1")]


def test_a_trade_already_recorded_is_not_recorded_again():
    p = plan([local(1, "open", "x1")], BatchTruth(open_orders=[venue(1)], trades=[trade("t1", "x1")] * 2),
             Known(trade_ids={"t1"}))
    assert p.fills == []


def test_a_trade_seen_twice_in_one_answer_is_recorded_once():
    p = plan([local(1, "open", "x1")], BatchTruth(open_orders=[venue(1)], trades=[trade("t1", "x1")] * 2))
    assert len(p.fills) == 1


def test_an_old_trade_is_reported_as_a_missed_fill_and_a_recent_one_is_not():
    p = plan([local(1, "open", "x1")], BatchTruth(open_orders=[venue(1)],
                                                  trades=[trade("old", "x1", 600), trade("new", "x1", 5)]))
    assert len(p.fills) == 2
    assert [(f.kind, f.adopted) for f in p.findings] == [("missed_fill", True)]
    assert "old" in p.findings[0].key


def test_a_trade_of_an_order_we_know_only_by_its_final_row_is_still_recorded():
    p = plan([], BatchTruth(trades=[trade("t9", "x9")]), Known(orders_by_exchange_id={"x9": 9}))
    assert [(f.order_id, f.trade.trade_id) for f in p.fills] == [(9, "t9")]


def test_a_trade_of_an_order_we_do_not_know_is_an_unknown_fill():
    p = plan([], BatchTruth(trades=[trade("t9", "x9")]))
    assert p.fills == [] and [f.kind for f in p.findings] == ["unknown_fill"]


def test_an_open_order_we_do_not_have_is_an_orphan_and_one_we_closed_is_a_conflict():
    truth = BatchTruth(open_orders=[venue(7), venue(8), venue(9)])
    p = plan([], truth, Known(rows_by_client_id={"c8": (8, "canceled"), "c9": (9, "pending_submit")}))
    assert sorted((f.kind, f.data["client_order_id"]) for f in p.findings) == [
        ("status_conflict", "c8"), ("unknown_order_on_exchange", "c7")]
    orphan = next(f for f in p.findings if f.kind == "unknown_order_on_exchange")
    assert orphan.key == "acct:1:orphan:BTC/USDT:x7"


def test_only_orders_the_venue_does_not_list_are_queried_one_by_one():
    assert [o.id for o in to_query([local(1), local(2)], [venue(1)])] == [2]


def test_fills_beyond_the_trades_window_are_fetched_by_order_id():
    truth = BatchTruth(queried={"c1": venue(1, "filled", "1"), "c2": venue(2, "filled", "1")},
                       trades=[trade("t2", "x2")])
    assert trades_missing([local(1, "open", "x1"), local(2, "open", "x2")], truth) == ["x1"]


def test_a_cancel_the_exchange_never_received_puts_the_order_back_to_open_once_it_has_settled():
    old = LocalOrder(1, "c1", "x1", "pending_cancel", D("1"), D("0"), NOW - timedelta(minutes=5),
                     NOW - timedelta(minutes=2))
    recent = LocalOrder(2, "c2", "x2", "pending_cancel", D("1"), D("0"), NOW - timedelta(minutes=5),
                        NOW - timedelta(seconds=3))
    p = plan([old, recent], BatchTruth(open_orders=[venue(1), venue(2)]))
    assert [(c.order_id, c.status, c.unchanged_since) for c in p.changes] == [(1, "open", old.updated_at)]
    assert "never received the cancel" in p.changes[0].reason
