"""One pass over the bars drives every backtest of a ``run_many``: each bar's times and its closed
candle are made once and shared, so the configs must replay the same market and interval."""

from __future__ import annotations

import pytest

from bots.backtest import BacktestConfig, run_many, synthetic
from bots.backtest.sim import steps
from marketdata.feeds.types import Instrument


def crossover(fast: int, slow: int, **kw) -> BacktestConfig:
    return BacktestConfig("crossover", {"fast_period": fast, "slow_period": slow, "timeframe": "1m"}, **kw)


def test_run_many_refuses_configs_over_different_markets():
    with pytest.raises(ValueError, match="share instrument and timeframe"):
        run_many([crossover(5, 20), crossover(5, 20, instrument=Instrument("kraken", "BTC/USD"))], synthetic(10))


def test_consecutive_bars_share_the_close_as_the_next_open_and_a_gap_makes_a_new_open():
    bars = list(synthetic(3))
    gapped = [*bars, (bars[-1][0] + 5 * 60_000, *bars[-1][1:])]
    out = list(steps(gapped, crossover(5, 20)))
    assert out[1][1] is out[0][2]  # one datetime object for the shared instant
    assert out[3][1] != out[2][2] and (out[3][1] - out[2][2]).total_seconds() == 4 * 60
    assert [s[3].close for s in out] == [b[4] for b in gapped]
    assert all(s[3].closed and s[3].exchange_time == s[2] and s[3].open_time == s[1] for s in out)


def test_steps_skip_the_candle_when_no_bot_reads_one():
    assert all(s[3] is None for s in steps(synthetic(5), crossover(5, 20), candles=False))
