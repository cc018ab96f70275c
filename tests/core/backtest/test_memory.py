"""Memory stays flat over long runs: bars are streamed through the replay, never held, and what the
result keeps (the equity curve, the price chart) is sampled to a bounded size. Ten times the bars must
not take materially more memory (the whole run's allocations are traced; no timing involved)."""

from __future__ import annotations

import tracemalloc

from bots.backtest import BacktestConfig, run_backtest, synthetic


def peak_bytes(bars: int) -> int:
    config = BacktestConfig("crossover", {"fast_period": 10, "slow_period": 30, "average": "sma", "timeframe": "1m"})
    tracemalloc.start()
    try:
        result = run_backtest(config, synthetic(bars, seed=5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.summary["bars"] == bars
    return peak


def test_ten_times_the_bars_take_about_the_same_memory():
    small, large = peak_bytes(5_000), peak_bytes(50_000)
    # Held as objects, the 45,000 more bars (six Decimals each) would take about 35 MB more; the fills of
    # the extra round trips (a few dozen) are what may grow.
    assert large - small < 5_000_000, (small, large)
