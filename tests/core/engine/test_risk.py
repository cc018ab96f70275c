from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.engine.risk import NO_PRICE, RiskInputs, check
from bots.engine.strategies import Signal
from bots.engine.types import MarketRules

from .fakes import T0, spec

D = Decimal


def inputs(**kw):
    base = dict(bid=D("99"), ask=D("100"), last=D("99.5"), position_qty=D(0), position_cost=D(0), open_orders=0,
                last_order_at=None, now=T0, daily_pnl=D(0), quote_balance=D(1000), base_balance=D(0))
    base.update(kw)
    return RiskInputs(**base)


def test_no_price_is_rejected_with_the_reason():
    d = check(spec(), Signal("buy", "x"), inputs(bid=None, ask=None, last=None))
    assert not d.approved and d.reasons == [NO_PRICE]


def test_quantity_comes_from_order_size_and_price_rounded_down_to_the_step():
    d = check(spec(order_size=D("333")), Signal("buy", "x"), inputs(ask=D("70")))
    assert d.approved and d.quantity == D("4.7571")  # 333/70 = 4.757142.. -> step 0.0001


def test_quantity_defaults_to_the_capital_left_after_the_position():
    d = check(spec(capital="1000"), Signal("buy", "x"), inputs(position_qty=D(4), position_cost=D(400)))
    assert d.quantity == D("6")


def test_orders_below_min_notional_are_rejected():
    d = check(spec(order_size=D("5")), Signal("buy", "x"), inputs())
    assert not d.approved and "below the minimum notional 10" in d.reasons[0]


def test_max_position_max_open_orders_and_cooldown_are_all_reported():
    s = spec(max_position=D("5"), max_open_orders=1, cooldown_seconds=30)
    d = check(s, Signal("buy", "x"), inputs(open_orders=1, last_order_at=T0 - timedelta(seconds=10)))
    assert not d.approved
    assert d.reasons == ["Position would exceed the maximum of 5", "Already 1 open orders (max 1)",
                         "Cooldown: 20.0s left"]


def test_insufficient_balance_is_rejected():
    d = check(spec(order_size=D("100")), Signal("buy", "x"), inputs(quote_balance=D("50")))
    assert not d.approved and d.reasons == ["Insufficient quote balance: 50 available"]


def test_a_whole_capital_buy_after_a_loss_spends_the_balance_left_with_room_for_the_fee():
    d = check(spec(), Signal("buy", "x"), inputs(quote_balance=D("990"), taker_fee=D("0.001")))
    assert d.approved and d.quantity == D("9.8901")  # 990 / 1.001 / 100, down to the 0.0001 step


def test_a_fixed_base_quantity_per_order_ignores_the_quote_size():
    d = check(spec(order_size=D("100"), order_quantity=D("2.00005")), Signal("buy", "x"), inputs())
    assert d.approved and d.quantity == D("2.0000")


def test_daily_loss_breach_rejects_entries_and_asks_to_pause():
    d = check(spec(max_daily_loss=D("20")), Signal("buy", "x"), inputs(daily_pnl=D("-20")))
    assert not d.approved and d.pause
    assert d.reasons[0] == "Daily loss 20 reached the limit 20"


def test_exits_skip_cooldown_and_open_order_limits_and_sell_the_whole_position():
    s = spec(cooldown_seconds=60, max_open_orders=1, max_daily_loss=D(1))
    d = check(s, Signal("sell", "stop", purpose="exit"),
              inputs(position_qty=D("0.55555"), base_balance=D(1), open_orders=3, last_order_at=T0,
                     daily_pnl=D(-100)))
    assert d.approved and d.quantity == D("0.5555")


def test_selling_without_a_position_is_rejected():
    d = check(spec(), Signal("sell", "x"), inputs())
    assert not d.approved and d.reasons == ["No position to sell"]


def test_limit_price_is_rounded_to_the_tick():
    s = spec()
    s = replace(s)
    d = check(s, Signal("buy", "x", type="limit", price=D("95.129")), inputs())
    assert d.approved and d.price == D("95.12") and d.quantity == D("10.5130")


money = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2, allow_nan=False, allow_infinity=False)
steps = st.sampled_from([D("1"), D("0.1"), D("0.001"), D("0.00001")])


@settings(max_examples=300, deadline=None)
@given(price=money, order_size=money, capital=money, balance=money, step=steps)
def test_an_approved_buy_is_on_the_step_affordable_within_capital_and_above_min_notional(
        price, order_size, capital, balance, step):
    s = spec(capital=str(capital), order_size=order_size)
    s.rules = MarketRules(D("0.01"), step, D("10"))
    d = check(s, Signal("buy", "x"), inputs(ask=price, bid=price, last=price, quote_balance=balance,
                                             taker_fee=D("0.001")))
    if d.approved:
        assert d.quantity > 0 and d.quantity % step == 0
        assert d.quantity * price >= D("10")
        assert d.quantity * price <= min(order_size, capital)
        assert d.quantity * price * D("1.001") <= balance
    else:
        assert d.reasons and len(d.reasons) == len(d.codes)


def test_entries_wait_while_the_engine_s_writes_are_behind_but_exits_go():
    held = "Database writes are behind (6000 queued): new entries wait until they catch up"
    buy = check(spec(order_size=D("100")), Signal("buy", "x"), inputs(entries_held=held))
    assert not buy.approved and buy.codes == ["write_backlog"] and buy.reasons == [held] and not buy.pause
    sell = check(spec(), Signal("sell", "exit", purpose="stop_loss"),
                 inputs(entries_held=held, position_qty=D(2), position_cost=D(200), base_balance=D(2)))
    assert sell.approved and sell.quantity == D(2)
