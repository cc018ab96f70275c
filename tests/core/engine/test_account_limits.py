"""Limits per user, across bots: exposure, open orders and the day's loss add up over an owner's bots."""

import dataclasses
from decimal import Decimal

from bots.engine.accounts import AccountLimits

from .fakes import RecordingGateway, spec, tick
from .test_engine import CROSS_UP, Rig

D = Decimal


async def _prices(rig: Rig, prices: list[str], symbol: str) -> None:
    for p in prices:
        rig.feeds.push(tick(p, symbol=symbol))
    await rig.settle()


async def _two_bots_and_a_stranger(rig: Rig, limits: AccountLimits, **risk) -> None:
    rig.engine.set_owner_limits(7, limits)
    await rig.engine.start_bot(spec(1, symbol="BTC/USDT", order_size=D("100"), **risk))
    await rig.engine.start_bot(spec(2, symbol="ETH/USDT", order_size=D("100"), **risk))
    stranger = dataclasses.replace(spec(3, symbol="ETH/USDT", order_size=D("100"), **risk), owner_id=8)
    await rig.engine.start_bot(stranger)


async def test_a_buy_that_would_take_the_owners_exposure_over_the_limit_is_refused():
    rig = Rig()
    await _two_bots_and_a_stranger(rig, AccountLimits(max_exposure=D("150")))
    await _prices(rig, CROSS_UP, "BTC/USDT")
    assert [f.side for f in rig.store.fills] == ["buy"]  # bot 1: about 100 held
    await _prices(rig, CROSS_UP, "ETH/USDT")
    bought = {rig.store.orders[f.client_order_id]["bot"] for f in rig.store.fills}
    assert bought == {1, 3}  # bot 2 would take alice's exposure to ~200; the other owner's bot is free
    refusal = rig.events.of(2, "risk")[-1]
    assert refusal["approved"] is False and "account_exposure" in refusal["codes"]
    assert rig.engine.bots[2].status == "running"  # exposure refuses entries, it does not pause


async def test_open_orders_count_across_the_owners_bots():
    rig = Rig()
    gw = RecordingGateway(rig.store, answer="open")  # orders rest on the book
    rig.engine.paper = gw
    await _two_bots_and_a_stranger(rig, AccountLimits(max_open_orders=1))
    await _prices(rig, CROSS_UP, "BTC/USDT")
    await _prices(rig, CROSS_UP, "ETH/USDT")
    sent_by = sorted(order.bot_id for order, _ in gw.submitted)
    assert sent_by == [1, 3]
    assert "account_open_orders" in rig.events.of(2, "risk")[-1]["codes"]


async def test_the_days_loss_across_bots_pauses_every_bot_of_the_owner_and_says_why():
    rig = Rig()
    # Each bot alone stays inside its own daily loss (50), together they pass the account's 15.
    await _two_bots_and_a_stranger(rig, AccountLimits(max_daily_loss=D("15")), max_daily_loss=D("50"))
    await _prices(rig, CROSS_UP, "BTC/USDT")
    await _prices(rig, CROSS_UP, "ETH/USDT")
    assert len(rig.store.fills) == 3
    rig.feeds.push(tick("10", symbol="BTC/USDT"))  # each position down about 9 (100 bought at 11)
    rig.feeds.push(tick("10", symbol="ETH/USDT"))
    await rig.settle()
    assert {b: rig.engine.bots[b].status for b in (1, 2, 3)} == {1: "running", 2: "running", 3: "running"}
    rig.engine.enforce_account_limits()
    assert rig.engine.bots[1].status == rig.engine.bots[2].status == "paused"
    assert rig.engine.bots[3].status == "running"  # another owner's bot is not touched
    status, reason = rig.store.statuses[1]
    assert status == "paused" and "across all bots" in reason and "15" in reason


async def test_an_owner_without_limits_is_not_added_up():
    rig = Rig()
    await rig.engine.start_bot(spec(1, order_size=D("100")))
    assert rig.engine.owners.state(7, rig.clock.now()) is None
    await _prices(rig, CROSS_UP, "BTC/USDT")
    assert len(rig.store.fills) == 1


async def test_stopping_a_bot_takes_it_out_of_its_owners_totals():
    rig = Rig()
    await _two_bots_and_a_stranger(rig, AccountLimits(max_exposure=D("150")))
    await _prices(rig, CROSS_UP, "BTC/USDT")
    assert rig.engine.owners.state(7, rig.clock.now()).exposure > 0
    await rig.engine.stop_bot(1)
    assert rig.engine.owners.state(7, rig.clock.now()).exposure == 0


async def test_a_store_whose_writes_are_behind_holds_new_entries_on_the_tick_path():
    rig = Rig()
    behind = "Database writes are behind (9000 queued): new entries wait until they catch up"
    rig.store.entries_held = lambda: behind  # the port's optional back-pressure method
    await rig.engine.start_bot(spec(1, symbol="BTC/USDT", order_size=D("100")))
    await _prices(rig, CROSS_UP, "BTC/USDT")
    assert rig.store.fills == []
    refusal = rig.events.of(1, "risk")[-1]
    assert refusal["approved"] is False and "write_backlog" in refusal["codes"]
    assert rig.engine.bots[1].status == "running"  # held, not paused: it trades again once writes catch up
    rig.store.entries_held = lambda: None
    await _prices(rig, CROSS_UP, "BTC/USDT")
    assert [f.side for f in rig.store.fills] == ["buy"]
