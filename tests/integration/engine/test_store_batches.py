"""The engine's writer: bulk loading for take-up, batches without a savepoint per write, and
position snapshots coalesced within a batch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from bots.models import BotEvent, Fill, Order, Position
from bots.services import positions as position_services
from bots.store import DjangoStore, _coalesce

pytestmark = pytest.mark.django_db


def _world(make_bot, alice):
    flat = make_bot(alice, name="flat")
    holding = make_bot(alice, name="holding", symbol="ETH/USDT")
    Position.objects.create(bot=holding, market=holding.market, quantity=Decimal("0.5"),
                            average_entry=Decimal("2000"), realized_pnl=Decimal("3.5"), opened_at=timezone.now())
    closed = Position.objects.create(bot=holding, market=holding.market, quantity=Decimal("0"),
                                     average_entry=Decimal("1900"), realized_pnl=Decimal("-1.25"),
                                     opened_at=timezone.now(), closed_at=timezone.now())
    assert closed.closed_at is not None
    done = Order.objects.create(bot=holding, side="buy", quantity=Decimal("0.5"), status="filled",
                                filled_quantity=Decimal("0.5"))
    Fill.objects.create(order=done, exchange=holding.exchange, market=holding.market, trade_id="t1",
                        price=Decimal("2000"), quantity=Decimal("0.5"), time=timezone.now())
    resting = Order.objects.create(bot=holding, side="sell", type="limit", quantity=Decimal("0.5"),
                                   price=Decimal("2100"), status="partially_filled", filled_quantity=Decimal("0.1"))
    Fill.objects.create(order=resting, exchange=holding.exchange, market=holding.market, trade_id="t2",
                        price=Decimal("2100"), quantity=Decimal("0.1"), time=timezone.now())
    holding.status, holding.status_reason = "paused", "Paused by alice"
    holding.save(update_fields=["status", "status_reason"])
    return flat, holding, resting


def test_bulk_load_gives_each_bot_what_loading_it_alone_gives(make_bot, alice):
    flat, holding, resting = _world(make_bot, alice)
    store = DjangoStore(publish=False)
    loaded = store.load_many([flat.id, holding.id, 999_999])
    assert set(loaded) == {flat.id, holding.id}  # a bot that does not exist is left out
    assert loaded[flat.id].spec.name == "flat" and loaded[holding.id].spec.instrument.symbol == "ETH/USDT"
    mine = loaded[holding.id]
    assert (mine.status, mine.status_reason) == ("paused", "Paused by alice")
    assert mine.position is not None
    assert Decimal(mine.position["quantity"]) == Decimal("0.5")
    assert Decimal(mine.position["realized_total"]) == Decimal("2.25")  # both rows of the bot
    assert mine.position["fills"] == 2 and "last_order_at" in mine.position
    assert [o.client_order_id for o in mine.orders] == [resting.client_order_id]
    assert mine.orders[0].fill_ids == {"t2"}
    assert loaded[flat.id].position is None and loaded[flat.id].orders == []


def _event(bot_id: int, message: str) -> BotEvent:
    return BotEvent.objects.create(bot_id=bot_id, kind="info", message=message)


def _fails() -> None:
    raise ValueError("this write is bad")


def test_a_failing_write_costs_only_itself_and_nothing_is_written_twice(make_bot, alice):
    bot = make_bot(alice)
    store = DjangoStore(publish=False)
    batch = [(_event, (bot.id, "one"), None, None), (_fails, (), None, None), (_event, (bot.id, "two"), None, None)]
    results, _ = store._commit(batch)
    assert [m for m in BotEvent.objects.filter(bot=bot).values_list("message", flat=True).order_by("id")] == \
        ["one", "two"]  # the first run was rolled back whole, the second wrote each once
    assert isinstance(results[1][2], ValueError)
    assert results[0][2] is None and results[2][2] is None


def test_a_batch_without_failures_is_written_in_one_go(make_bot, alice):
    bot = make_bot(alice)
    store = DjangoStore(publish=False)
    results, _ = store._commit([(_event, (bot.id, str(i)), None, None) for i in range(5)])
    assert [e for _, _, e in results] == [None] * 5
    assert BotEvent.objects.filter(bot=bot).count() == 5


def _snapshot(bot_id: int, quantity: str, opened: str | None, fills: int):
    return (position_services.save_position, (bot_id, 1, {"quantity": quantity, "opened_at": opened,
                                                          "fills": fills}), None, bot_id)


def test_superseded_position_snapshots_are_dropped_but_closes_are_kept():
    marker = (_fails, (), None, None)
    batch = [_snapshot(1, "1", "T1", 1), marker, _snapshot(1, "2", "T1", 2), _snapshot(2, "5", "T9", 1),
             _snapshot(1, "0", "T1", 3), _snapshot(1, "1", "T2", 4), _snapshot(1, "3", "T2", 5)]
    kept = _coalesce(batch)
    shapes = [(j[1][0], j[1][2]["quantity"], j[1][2]["opened_at"]) if j is not marker else "marker" for j in kept]
    # bot 1's first position: only its close survives (it carries everything); its second: the last
    assert shapes == ["marker", (2, "5", "T9"), (1, "0", "T1"), (1, "3", "T2")]
    assert _coalesce(batch[:2]) == batch[:2]  # nothing to drop: the same list back


def test_event_appends_of_a_batch_become_one_insert_in_order(make_bot, alice):
    from bots.services.engine_state import record_engine_events

    bot = make_bot(alice)
    other = (_event, (bot.id, "between"), None, None)
    batch = [(record_engine_events, ([(bot.id, "info", {"message": "a"})],), None, None), other,
             (record_engine_events, ([(bot.id, "info", {"message": "b"}), (bot.id, "info", {"message": "c"})],),
              None, None)]
    kept = _coalesce(batch)
    assert len(kept) == 2 and kept[1] is other
    DjangoStore(publish=False)._commit(kept)
    assert [e.data.get("message") for e in BotEvent.objects.filter(bot=bot, kind="info").order_by("id")] == \
        ["a", "b", "c", None]


def test_an_order_creation_goes_ahead_of_queued_writes():
    from bots.services.orders import create_order
    from bots.store import _Lanes

    lanes = _Lanes()
    lanes.put("position")
    lanes.put("event")
    lanes.put((create_order, (), None, 1), urgent=True)
    assert lanes.qsize() == 3
    assert [lanes.get(), lanes.get_nowait(), lanes.get_nowait()] == [(create_order, (), None, 1), "position", "event"]


def test_new_entries_are_held_while_the_write_backlog_is_over_its_bound():
    store = DjangoStore(publish=False, max_backlog=3)
    for n in range(3):
        store._jobs.put((_event, (0, str(n)), None, None))
    assert store.entries_held() is None  # at the bound: still taking entries
    store._jobs.put((_event, (0, "4"), None, None))
    assert "4 queued" in (store.entries_held() or "") and store.held_entries == 1
    assert DjangoStore(publish=False).entries_held() is None  # no bound set: never held


def _slow_write(done: list[int], n: int) -> None:
    import time

    time.sleep(0.25)
    done.append(n)


@pytest.mark.django_db(transaction=True)
async def test_stopping_waits_for_every_queued_write_while_they_keep_landing():
    store = DjangoStore(publish=False, batch_max=1)
    store.start()
    done: list[int] = []
    for n in range(8):
        store._put(_slow_write, done, n)
    await store.stop(timeout=0.5)  # 2 s of writes: longer than one wait, but they keep landing
    assert done == list(range(8))
