from datetime import timedelta
from decimal import Decimal

import pytest

from bots.engine.strategies import (
    ParamsError,
    StrategyContext,
    build_strategy,
    describe_strategies,
    validate_params,
)
from marketdata.feeds.types import Candle

from .fakes import T0


def ctx(price, qty="0", avg=None):
    c = StrategyContext(Decimal(1000))
    c.price, c.now = Decimal(price), T0
    c.position_qty, c.average_entry = Decimal(qty), (Decimal(avg) if avg else None)
    return c


def test_validation_reports_every_bad_field_with_its_own_message():
    with pytest.raises(ParamsError) as err:
        validate_params("crossover", {"fast_period": "x", "slow_period": 0, "average": "wma", "colour": 1})
    assert err.value.errors == {
        "colour": ["Unknown parameter for SMA/EMA crossover."],
        "fast_period": ["Must be a whole number."],
        "slow_period": ["Must be at least 2."],
        "average": ["Must be one of: sma, ema."],
    }


def test_validation_checks_fields_against_each_other():
    with pytest.raises(ParamsError) as err:
        validate_params("crossover", {"fast_period": 30, "slow_period": 20})
    assert err.value.errors == {"slow_period": ["Must be greater than the fast period."]}
    with pytest.raises(ParamsError) as err:
        validate_params("grid", {"lower": "200", "upper": "100", "amount_per_level": "10"})
    assert err.value.errors == {"upper": ["Must be greater than the lower price."]}


def test_validation_fills_defaults_and_parses_decimals_exactly():
    cleaned = validate_params("rsi", {"oversold": "25.5", "overbought": 0.1 + 70})
    assert cleaned == {"period": 14, "oversold": Decimal("25.5"), "overbought": Decimal("70.1"),
                       "timeframe": "1m"}


def test_validation_rejects_nan_infinity_missing_and_unknown_strategy():
    with pytest.raises(ParamsError) as err:
        validate_params("grid", {"lower": "NaN", "upper": "Infinity"})
    assert err.value.errors["lower"] == ["Must be a finite number."]
    assert err.value.errors["upper"] == ["Must be a finite number."]
    assert err.value.errors["amount_per_level"] == ["This field is required."]
    with pytest.raises(ParamsError) as err:
        validate_params("martingale", {})
    assert "strategy" in err.value.errors


def test_every_strategy_is_documented_with_its_parameters():
    docs = {d["name"]: d for d in describe_strategies()}
    assert set(docs) == {"crossover", "rsi", "grid", "dca"}
    for d in docs.values():
        assert d["doc"] and d["params"]
        assert all(p["help"] for p in d["params"])


def test_crossover_buys_on_upward_cross_and_sells_on_downward_cross():
    s = build_strategy("crossover", {"fast_period": 2, "slow_period": 3, "timeframe": "tick"})
    signals = []
    qty = "0"
    for p in ["10", "9", "8", "7", "9", "11", "12", "8", "6"]:
        sig = s.on_tick(ctx(p, qty, "10"))
        if sig:
            signals.append((p, sig.side))
            qty = "1" if sig.side == "buy" else "0"
    assert signals == [("11", "buy"), ("8", "sell")]


def test_a_cross_during_an_in_flight_order_waits_for_it_instead_of_being_lost():
    s = build_strategy("crossover", {"fast_period": 2, "slow_period": 3, "timeframe": "tick"})
    for p in ["10", "9", "8"]:
        s.on_tick(ctx(p))
    busy = ctx("12")
    busy.open_orders = 1
    assert s.on_tick(busy) is None  # crossed up, but an order is in flight
    sig = s.on_tick(ctx("13"))
    assert sig is not None and sig.side == "buy"
    assert s.on_tick(ctx("14")) is None  # acted once


def test_crossover_on_candles_uses_warm_up_history_to_detect_the_first_cross():
    s = build_strategy("crossover", {"fast_period": 2, "slow_period": 3, "timeframe": "1m"})
    hist = [Candle("b", "X", "1m", T0, p, p, p, p, Decimal(0), True, None, 0)
            for p in map(Decimal, ["10", "9", "8", "7"])]
    s.warm_up(hist)
    assert s.on_tick(ctx("100")) is None  # bar strategies ignore ticks
    sig = s.on_candle(ctx("12"), Candle("b", "X", "1m", T0, *(Decimal(12),) * 4, Decimal(0), True, None, 0))
    assert sig is not None and sig.side == "buy"


def test_rsi_buys_when_oversold_and_sells_when_overbought():
    s = build_strategy("rsi", {"period": 2, "oversold": 30, "overbought": 70, "timeframe": "tick"})
    out = [s.on_tick(ctx(p)) for p in ["10", "9", "8"]]
    assert out[-1] is not None and out[-1].side == "buy"
    out = [s.on_tick(ctx(p, "1", "8")) for p in ["9", "11"]]
    assert out[-1] is not None and out[-1].side == "sell"


def test_grid_buys_falling_through_lines_and_sells_rising_through_them():
    s = build_strategy("grid", {"lower": "90", "upper": "110", "levels": 5, "amount_per_level": "100"})
    assert s.on_tick(ctx("101")) is None
    buy = s.on_tick(ctx("99"))
    assert buy.side == "buy" and buy.amount == Decimal(100)
    sell = s.on_tick(ctx("101", "2", "100"))
    assert sell.side == "sell" and sell.quantity == Decimal(1)
    assert s.on_tick(ctx("120", "1", "100")) is None  # outside the range


def test_dca_buys_on_schedule_and_stops_at_max_buys():
    s = build_strategy("dca", {"amount": "50", "interval_seconds": 60, "max_buys": 2})
    c = ctx("100")
    assert s.on_tick(c).amount == Decimal(50)
    c.last_order_at = T0
    c.now = T0 + timedelta(seconds=59)
    assert s.on_tick(c) is None
    c.now = T0 + timedelta(seconds=60)
    assert s.on_tick(c) is not None
    c.position_qty, c.average_entry = Decimal(1), Decimal(100)  # two buys of 50 held
    assert s.on_tick(c) is None
