from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bots.engine.indicators import EMA, RSI, SMA

prices = st.lists(st.integers(min_value=1, max_value=10**6).map(lambda n: Decimal(n) / 100), min_size=1,
                  max_size=80)


@given(prices, st.integers(min_value=1, max_value=10))
def test_incremental_sma_equals_the_mean_of_the_last_period_values(values, period):
    sma = SMA(period)
    for i, v in enumerate(values):
        got = sma.update(v)
        window = values[max(0, i + 1 - period): i + 1]
        assert got == (sum(window) / period if len(window) == period else None)


@given(prices, st.integers(min_value=1, max_value=10))
def test_incremental_ema_equals_the_recursive_definition_seeded_by_the_sma(values, period):
    ema = EMA(period)
    expected = None
    alpha = Decimal(2) / (period + 1)
    for i, v in enumerate(values):
        got = ema.update(v)
        if i + 1 == period:
            expected = sum(values[:period]) / period
        elif i + 1 > period:
            expected = expected + alpha * (v - expected)
        assert got == expected


def test_rsi_is_100_when_prices_only_rise_and_0_when_they_only_fall():
    up, down = RSI(3), RSI(3)
    for i in range(10):
        up.update(Decimal(100 + i))
        down.update(Decimal(100 - i))
    assert up.value == 100
    assert down.value == 0


def test_rsi_matches_wilders_worked_values():
    rsi = RSI(2)
    values = [rsi.update(Decimal(p)) for p in ("10", "11", "10", "12")]
    # changes +1, -1 seed avg gain 0.5, loss 0.5; then +2: gain (0.5+2)/2=1.25, loss 0.25 -> RS 5
    assert values[:2] == [None, None]
    assert values[2] == 50
    assert values[3] == Decimal(100) - Decimal(100) / 6


def test_indicators_keep_constant_state_however_long_they_run():
    sma = SMA(5)
    for i in range(10_000):
        sma.update(Decimal(i))
    assert len(sma._window) == 5
