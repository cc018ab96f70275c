import asyncio
from decimal import Decimal

import pytest

from bots.engine.brokers import PaperBroker
from bots.engine.engine import Engine, EngineConfig
from bots.engine.types import Order
from marketdata.feeds.types import Subscription, Trade

from .fakes import T0, FakeClock, FakeEvents, FakeFeeds, FakeHistory, FakeStore, RecordingGateway, spec, tick

D = Decimal
CROSS_UP = ["10", "9", "8", "7", "11"]  # fast(2) crosses above slow(3) on the last price


class Rig:
    def __init__(self, gateway=None, history=None, **cfg):
        self.clock, self.feeds, self.store, self.events = FakeClock(), FakeFeeds(), FakeStore(), FakeEvents()
        self.paper = PaperBroker(self.clock, slippage_bps=D(0))
        self.engine = Engine(clock=self.clock, feeds=self.feeds, store=self.store, events=self.events,
                             paper=gateway or self.paper, history=history, config=EngineConfig(**cfg))

    async def ticks(self, prices, **kw):
        for p in prices:
            self.feeds.push(tick(p, **kw))
            await asyncio.sleep(0)
        await self.settle()

    async def settle(self):
        for _ in range(5):
            await asyncio.sleep(0)
        if self.engine._tasks:
            await asyncio.wait(list(self.engine._tasks), timeout=2)


async def test_a_crossover_buys_at_the_ask_and_records_order_fill_and_position():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("110")))
    await rig.ticks(CROSS_UP, spread="0.02")
    bot = rig.engine.bots[1]
    assert bot.position.quantity == D("9.9909")  # 110 / 11.01 rounded down to 0.0001
    assert bot.position.average_entry == D("11.01")
    assert [s for _, _, s in [x for x in rig.store.log if x[0] == "update"]] == ["filled"]
    assert rig.store.fills[0].price == D("11.01")
    assert rig.store.positions[1]["quantity"] == "9.9909"
    assert rig.events.kinds(1).count("fill") == 1


async def test_a_bot_holding_a_position_does_not_buy_again_on_the_next_upward_cross():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("100")))
    await rig.ticks(CROSS_UP)
    bot = rig.engine.bots[1]
    assert bot.ctx.position_qty == bot.position.quantity > 0
    for price in ["10", "9", "8", "12"]:  # the down-cross sells, the next up-cross buys again
        await rig.ticks([price])
    sides = [f.side for f in rig.store.fills]
    assert sides == ["buy", "sell", "buy"]
    for price in ["13", "14"]:  # still above: nothing more
        await rig.ticks([price])
    assert len(rig.store.fills) == 3


async def test_the_order_row_is_written_before_the_gateway_is_called():
    rig = Rig()
    gw = RecordingGateway(rig.store)
    rig.engine.paper = gw
    await rig.engine.start_bot(spec())
    await rig.ticks(CROSS_UP)
    order, log_at_submit = gw.submitted[0]
    assert ("create", order.client_order_id) in log_at_submit
    assert rig.store.orders[order.client_order_id]["status"] == "open"


async def test_an_order_whose_row_cannot_be_written_is_never_sent():
    rig = Rig()
    gw = RecordingGateway(rig.store)
    rig.engine.paper = gw
    rig.store.fail_create = True
    await rig.engine.start_bot(spec())
    await rig.ticks(CROSS_UP)
    assert gw.submitted == []
    assert rig.engine.bots[1].inflight == 0


async def test_a_gateway_timeout_leaves_the_order_unknown_until_reconciled():
    rig = Rig(submit_timeout=0.05)
    gw = RecordingGateway(rig.store, hang=True)
    rig.engine.paper = gw
    await rig.engine.start_bot(spec())
    await rig.ticks(CROSS_UP)
    coid = gw.submitted[0][0].client_order_id
    assert rig.store.orders[coid]["status"] == "unknown"
    await rig.engine.reconcile()
    assert rig.store.orders[coid]["status"] == "canceled"
    assert rig.engine.bots[1].orders == {}


async def test_ticks_reach_only_the_bots_on_their_exchange_and_symbol():
    rig = Rig()
    await rig.engine.start_bot(spec(1, exchange="binance"))
    await rig.engine.start_bot(spec(2, exchange="coinbase"))
    await rig.engine.start_bot(spec(3, exchange="binance", symbol="ETH/USDT"))
    await rig.ticks(["100", "101"], exchange="coinbase")
    assert [b.ticks for b in rig.engine.bots.values()] == [0, 2, 0]
    assert rig.feeds.active() == {Subscription("binance", "ticker", "BTC/USDT"),
                                  Subscription("coinbase", "ticker", "BTC/USDT"),
                                  Subscription("binance", "ticker", "ETH/USDT")}


async def test_stopping_one_of_two_bots_on_a_symbol_keeps_the_others_feed():
    rig = Rig()
    await rig.engine.start_bot(spec(1))
    await rig.engine.start_bot(spec(2))
    await rig.engine.stop_bot(1)
    sub = Subscription("binance", "ticker", "BTC/USDT")
    assert rig.feeds.wire == [("subscribe", sub)]
    await rig.ticks(["100"])
    assert rig.engine.bots[2].ticks == 1 and 1 not in rig.engine.bots
    await rig.engine.stop_bot(2)
    assert rig.feeds.wire[-1] == ("unsubscribe", sub) and not rig.feeds.active()
    assert rig.store.statuses == {1: ("stopped", "Stopped"), 2: ("stopped", "Stopped")}


async def test_a_strategy_that_raises_puts_only_its_bot_in_error():
    rig = Rig()
    await rig.engine.start_bot(spec(1))
    await rig.engine.start_bot(spec(2))
    rig.engine.bots[1].strategy.on_tick = lambda ctx: 1 / 0
    await rig.ticks(["100", "101"])
    assert rig.store.statuses[1] == ("error", "ZeroDivisionError: division by zero")
    assert rig.store.statuses[2] == ("running", "")
    assert rig.engine.bots[2].ticks == 2 and 1 not in rig.engine.bots
    assert Subscription("binance", "ticker", "BTC/USDT") in rig.feeds.active()


async def test_invalid_parameters_put_the_bot_in_error_with_the_field_errors():
    rig = Rig()
    assert await rig.engine.start_bot(spec(params={"fast_period": 5, "slow_period": 3})) is None
    status, reason = rig.store.statuses[1]
    assert status == "error" and "slow_period: Must be greater than the fast period." in reason
    assert not rig.feeds.active()


async def test_stop_loss_sells_once_at_the_bid_when_the_price_falls_through_it():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("100"), stop_loss_pct=D(5)))
    await rig.ticks(CROSS_UP)  # buys 9.0909 at 11
    rig.engine.paper.slippage = D(0)
    bot = rig.engine.bots[1]
    assert bot.position.stop_loss_price == D("10.45")
    rig.feeds.push(tick("10.46", spread="0.02"))
    assert bot.position.exit_order_id is None
    rig.feeds.push(tick("10.40", spread="0.02"))
    await rig.settle()
    rig.feeds.push(tick("10.30", spread="0.02"))
    await rig.settle()
    sells = [f for f in rig.store.fills if f.side == "sell"]
    assert len(sells) == 1 and sells[0].price == D("10.39")
    assert bot.position.quantity == 0
    assert bot.position.realized_pnl < 0


async def test_no_second_exit_is_sent_while_one_is_in_flight():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("100"), stop_loss_pct=D(5)))
    await rig.ticks(CROSS_UP)
    gw = RecordingGateway(rig.store, hang=True)
    rig.engine.bots[1].gateway = gw
    await rig.ticks(["10", "9", "8"])
    assert len(gw.submitted) == 1 and gw.submitted[0][0].purpose == "stop_loss"
    for task in rig.engine._tasks:
        task.cancel()


async def test_the_daily_loss_limit_pauses_the_bot_with_its_reason():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("100"), max_daily_loss=D("5")))
    await rig.ticks(CROSS_UP)
    await rig.ticks(["10.40"])
    assert rig.store.statuses[1] == ("paused", "Daily loss limit reached")
    assert rig.engine.bots[1].status == "paused"
    rig.engine.resume_bot(1)
    assert rig.store.statuses[1] == ("running", "")


async def test_a_paused_bot_takes_no_entries_and_resumes_on_request():
    rig = Rig()
    await rig.engine.start_bot(spec())
    rig.engine.pause_bot(1, "by owner")
    await rig.ticks(CROSS_UP)
    assert rig.store.fills == [] and rig.store.statuses[1] == ("paused", "by owner")
    rig.engine.resume_bot(1)
    await rig.ticks(["7", "6", "5", "9"])
    assert len(rig.store.fills) == 1


async def test_risk_rejections_are_stored_as_events_with_reasons_and_not_repeated_every_tick():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("5")))
    await rig.ticks(CROSS_UP + ["6", "5", "9", "8", "7", "6", "10"])
    rejections = [d for d in rig.events.of(1, "risk") if not d["approved"]]
    assert len(rejections) == 1
    assert rejections[0]["reasons"] == ["Order value 4.99950000 is below the minimum notional 10"]
    rig.clock.advance(61)
    await rig.ticks(["6", "5", "9"])
    again = [d for d in rig.events.of(1, "risk") if not d["approved"]]
    assert len(again) == 2 and again[1]["repeats_since_last"] == 2  # the two held back are counted


async def test_resuming_a_bot_restores_its_position_balances_and_open_orders():
    rig = Rig()
    s = spec(order_size=D("100"), take_profit_pct=D(10))
    position = {"quantity": "2", "average_entry": "50", "realized_pnl": "0"}
    resting = Order("bp1-old", 1, s.instrument, "sell", "limit", D(1), D(60), T0, status="open")
    pending = Order("bp1-pend", 1, s.instrument, "buy", "market", D(1), None, T0, status="pending_submit")
    await rig.engine.start_bot(s, position, [resting, pending])
    bot = rig.engine.bots[1]
    assert bot.position.take_profit_price == D(55)
    assert rig.paper.balance(1, "BTC") == D(1)  # of 2, one is held by the resting sell
    assert rig.paper.balance(1, "USDT") == D(900)
    assert bot.orders["bp1-pend"].status == "unknown"
    await rig.engine.reconcile()  # the paper book never had it: it expired with the old process
    assert "bp1-pend" not in bot.orders and rig.store.orders["bp1-pend"]["status"] == "expired"
    await rig.ticks(["54"])
    await rig.ticks(["61"])  # the resting sell fills at 60; the take-profit sells the rest
    assert bot.position.quantity == 0
    assert sorted(f.price for f in rig.store.fills) == [D(60), D(61)]


async def test_todays_realised_loss_survives_a_restart_for_the_daily_limit():
    rig = Rig()
    position = {"quantity": "1", "average_entry": "100", "realized_today": "-50", "realized_total": "-50"}
    await rig.engine.start_bot(spec(max_daily_loss=D("40")), position)
    await rig.ticks(["100"])
    assert rig.store.statuses[1] == ("paused", "Daily loss limit reached")


async def test_a_dca_schedule_survives_a_restart():
    from datetime import timedelta

    rig = Rig()
    s = spec(strategy="dca", params={"amount": "100", "interval_seconds": 60})
    await rig.engine.start_bot(s, {"quantity": "0", "last_order_at": T0 - timedelta(seconds=10)})
    await rig.ticks(["100"])
    assert rig.store.fills == []  # bought 10 s before the restart: not yet
    rig.clock.advance(50)
    await rig.ticks(["100"])
    assert len(rig.store.fills) == 1


async def test_a_paused_bot_is_resumed_paused_with_its_reason():
    rig = Rig()
    await rig.engine.start_bot(spec(), paused="Daily loss limit reached")
    assert rig.store.statuses[1] == ("paused", "Daily loss limit reached")
    await rig.ticks(CROSS_UP)
    assert rig.store.fills == []


async def test_a_rising_trailing_stop_is_saved_on_the_heartbeat_not_on_every_tick():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("100"), trailing_stop_pct=D(10)))
    await rig.ticks(CROSS_UP)
    saved = dict(rig.store.positions[1])
    await rig.ticks(["12", "13", "14"])
    assert rig.store.positions[1] == saved
    await rig.engine.heartbeat()
    assert rig.store.positions[1]["highest_price"] == "14"
    assert rig.store.positions[1]["trailing_stop_price"] == "12.6"


async def test_a_refused_exit_is_retried_after_a_pause_not_on_every_tick():
    rig = Rig()
    s = spec(stop_loss_pct=D(5))
    await rig.engine.start_bot(s, {"quantity": "0.5", "average_entry": "10"})  # 0.5 * 9 is below min notional
    await rig.ticks(["9", "8.9", "8.8"])
    assert rig.engine.bots[1]._exit_retry_at == rig.clock.mono + 5  # not re-asked on the next ticks
    assert len([d for d in rig.events.of(1, "risk") if not d["approved"]]) == 1
    assert len(rig.events.of(1, "signal")) == 1
    rig.clock.advance(61)
    await rig.ticks(["8.7"])
    assert len(rig.events.of(1, "signal")) == 2


async def test_heartbeats_record_every_hosted_bot():
    rig = Rig()
    await rig.engine.start_bot(spec(1))
    await rig.engine.start_bot(spec(2))
    await rig.engine.heartbeat()
    assert rig.store.heartbeats == [([1, 2], T0)]


async def test_reload_applies_new_parameters_and_keeps_the_position():
    rig = Rig()
    await rig.engine.start_bot(spec(order_size=D("100")))
    await rig.ticks(CROSS_UP)
    await rig.engine.reload_bot(spec(order_size=D("100"), stop_loss_pct=D(1),
                                     params={"fast_period": 3, "slow_period": 5, "timeframe": "tick"}))
    bot = rig.engine.bots[1]
    assert bot.strategy.p["slow_period"] == 5
    assert bot.position.quantity == D("9.0909") and bot.position.stop_loss_price == D("10.89")
    assert len(rig.feeds.active()) == 1
    assert rig.feeds.wire == [("subscribe", Subscription("binance", "ticker", "BTC/USDT"))]  # never dropped


async def test_reload_keeps_in_flight_orders_and_can_move_the_bot_to_another_market():
    rig = Rig(submit_timeout=5)
    gw = RecordingGateway(rig.store, hang=True)
    rig.engine.paper = gw
    await rig.engine.start_bot(spec())
    await rig.ticks(CROSS_UP)
    runner = rig.engine.bots[1]
    assert runner.inflight == 1
    moved = await rig.engine.reload_bot(spec(symbol="ETH/USDT"))
    assert moved is runner and runner.inflight == 1  # the send in flight still reports to this bot
    for _ in range(3):
        await asyncio.sleep(0)  # the old market's unsubscribe runs in a task
    assert rig.feeds.active() == {Subscription("binance", "ticker", "ETH/USDT")}
    for task in rig.engine._tasks:
        task.cancel()


async def test_bar_strategies_warm_up_from_history_and_trade_on_closed_candles():
    history = FakeHistory([D(p) for p in ["10", "9", "8", "7"]])
    rig = Rig(history=history, candles_from_trades=False)
    await rig.engine.start_bot(spec(params={"fast_period": 2, "slow_period": 3, "timeframe": "1m"}))
    assert history.calls[0][1:] == ("1m", 4)
    ns = 1_767_614_400 * 1_000_000_000
    for i, p in enumerate(["12", "12", "12"]):
        rig.feeds.push(tick(p, ns=ns + i * 60 * 1_000_000_000))
    await rig.settle()
    assert len(rig.store.fills) == 1  # the first closed candle (12) crossed the warmed-up averages


async def test_bar_strategies_build_candles_from_trades_and_flush_them_on_the_heartbeat():
    rig = Rig(history=FakeHistory([D(p) for p in ["10", "9", "8", "7"]]))
    await rig.engine.start_bot(spec(params={"fast_period": 2, "slow_period": 3, "timeframe": "1m"}))
    trades = Subscription("binance", "trades", "BTC/USDT")
    assert trades in rig.feeds.active()
    ns = int(T0.timestamp()) * 1_000_000_000
    rig.feeds.push(tick("12", ns=ns))  # the decision price
    for listener in rig.feeds.listeners[trades]:
        listener(Trade("binance", "BTC/USDT", "t1", D("12"), D("0.5"), "buy", None, ns))
    builder = rig.engine.routes[spec().instrument].builders["1m"]
    assert builder._v == D("0.5")  # volume from the trade; the ticker did not add a price
    rig.clock.advance(61)
    await rig.engine.heartbeat()
    await rig.settle()
    assert builder.last_closed.close == D(12) and builder.last_closed.volume == D("0.5")
    assert len(rig.store.fills) == 1  # the flushed candle crossed the warmed-up averages
    await rig.engine.stop_bot(1)
    assert not rig.feeds.active()


async def test_stopping_the_engine_unsubscribes_everything_and_leaves_statuses_for_a_restart():
    rig = Rig()
    await rig.engine.start()
    await rig.engine.start_bot(spec(1))
    await rig.engine.stop()
    assert not rig.feeds.active()
    assert rig.store.statuses[1] == ("running", "")


@pytest.mark.parametrize("mode", ["live"])
async def test_a_live_bot_without_a_live_gateway_goes_to_error(mode):
    rig = Rig()
    s = spec()
    s.mode = mode
    await rig.engine.start_bot(s)
    assert rig.store.statuses[1][0] == "error"
