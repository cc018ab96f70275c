"""Protective stops in the pure core: where the stop rests, one at a time, cancel-then-place, and a
trailing stop that rises every tick moves the venue's order only by whole ticks and at most once per
``min_move_seconds`` (the venue is not spammed)."""

from __future__ import annotations

from decimal import Decimal

from bots.engine.bot import BotRunner
from bots.engine.config import ProtectConfig
from bots.engine.protect import ProtectiveStops, protective, wanted_for
from bots.engine.types import (
    FINAL_STATUSES,
    BotSpec,
    Fill,
    MarketRules,
    Order,
    OrderUpdate,
    RiskSettings,
)
from marketdata.feeds.types import Instrument

from .fakes import T0, FakeClock, FakeStore

D = Decimal
RULES = MarketRules(D("0.01"), D("0.00001"), D("5"), "BTC", "USDT")


class VenueStops:
    """A gateway whose venue rests stop orders: counts places and cancels, checks never two at once."""

    protective_stops = True

    def __init__(self) -> None:
        self.resting: dict[str, Order] = {}
        self.placed: list[Decimal] = []
        self.cancels = 0
        self.cancel_fails = False
        self.most_at_once = 0

    async def submit(self, order: Order) -> OrderUpdate:
        self.resting[order.client_order_id] = order
        self.placed.append(order.stop_price or D(0))
        self.most_at_once = max(self.most_at_once, len(self.resting))
        return OrderUpdate(order.client_order_id, "open", f"X{len(self.placed)}")

    async def cancel(self, order: Order) -> OrderUpdate:
        if self.cancel_fails:
            raise TimeoutError("no answer")
        self.cancels += 1
        self.resting.pop(order.client_order_id, None)
        return OrderUpdate(order.client_order_id, "canceled")

    def balance(self, bot_id: int, asset: str) -> Decimal | None:
        return None


def hosted(clock: FakeClock, gateway: VenueStops, **risk: Decimal) -> tuple[BotRunner, ProtectiveStops]:
    spec = BotSpec(1, 1, "b", Instrument("binance", "BTC/USDT"), "crossover", {"fast_period": 2, "slow_period": 3},
                   mode="live", risk=RiskSettings(**risk), rules=RULES, account_id=1)
    runner = BotRunner(spec, gateway, lambda r, o: None, lambda *a, **k: None, clock.monotonic, 1.0)  # type: ignore[arg-type]
    runner.position.apply_fill(Fill("e", "t1", "buy", D("60000"), D("0.5"), D(0), "", T0), spec.risk)

    def on_update(r: BotRunner, update: OrderUpdate) -> None:
        order, _ = r.apply_update(update) or (None, None)
        if order is not None and order.status in FINAL_STATUSES:
            r.orders.pop(order.client_order_id, None)

    return runner, ProtectiveStops(clock=clock, store=FakeStore(), on_update=on_update,
                                   config=ProtectConfig(min_move_seconds=5.0))


def test_the_stop_rests_at_the_highest_level_rounded_down_to_the_tick_with_its_limit_below():
    runner, _ = hosted(FakeClock(), VenueStops(), stop_loss_pct=D("2"), trailing_stop_pct=D("1.333"))
    want = wanted_for(runner.position, RULES, D("0.5"))
    assert want is not None
    assert want.stop_price == D("59200.20")  # 60000 * (1 - 1.333 %) = 59200.2 beats the stop-loss 58800
    assert want.limit_price == D("58904.19") and want.quantity == D("0.5")
    runner.position.exit_order_id = "an exit in flight"
    assert wanted_for(runner.position, RULES, D("0.5")) is None  # the engine is selling: no stop beside it


async def test_a_trailing_stop_rising_every_tick_moves_the_order_at_most_once_per_interval():
    clock, venue = FakeClock(), VenueStops()
    runner, stops = hosted(clock, venue, trailing_stop_pct=D("1"))
    await stops.sync(runner)
    assert venue.placed == [D("59400.00")]
    price = D("60000")
    for _ in range(95):  # 9.5 seconds of ticks, each a new high
        price += D("1")
        clock.advance(0.1)
        runner.position.check_exit(price)
        await stops.sync(runner)
    assert venue.most_at_once == 1 and len(venue.resting) == 1
    assert len(venue.placed) == 2 and venue.cancels == 1  # placed, then one move 5 s later
    level = wanted_for(runner.position, RULES, D("0.5"))
    assert level is not None and protective(runner).stop_price == venue.placed[-1] < level.stop_price


async def test_a_move_under_one_tick_leaves_the_order_alone():
    clock, venue = FakeClock(), VenueStops()
    runner, stops = hosted(clock, venue, trailing_stop_pct=D("1"))
    await stops.sync(runner)
    clock.advance(60)
    runner.position.check_exit(D("60000.005"))  # the level moves by half a cent
    await stops.sync(runner)
    assert venue.cancels == 0 and len(venue.placed) == 1


async def test_an_unconfirmed_cancel_never_leaves_two_stops():
    clock, venue = FakeClock(), VenueStops()
    runner, stops = hosted(clock, venue, trailing_stop_pct=D("1"))
    await stops.sync(runner)
    clock.advance(60)
    runner.position.check_exit(D("61000"))
    venue.cancel_fails = True
    await stops.sync(runner)
    assert len(venue.placed) == 1 and len(venue.resting) == 1  # the old one still protects; nothing added
    venue.cancel_fails = False
    await stops.sync(runner)
    assert venue.placed == [D("59400.00"), D("60390.00")] and venue.most_at_once == 1


async def test_a_closed_position_removes_its_stop_and_paper_bots_have_none():
    clock, venue = FakeClock(), VenueStops()
    runner, stops = hosted(clock, venue, stop_loss_pct=D("2"))
    await stops.sync(runner)
    runner.position.apply_fill(Fill("x", "t2", "sell", D("61000"), D("0.5"), D(0), "", T0), runner.spec.risk)
    await stops.sync(runner)
    assert venue.resting == {} and protective(runner) is None
    runner.spec.mode = "paper"
    runner.position.apply_fill(Fill("e2", "t3", "buy", D("60000"), D("0.5"), D(0), "", T0), runner.spec.risk)
    await stops.sync(runner)
    assert len(venue.placed) == 1
