"""The replay's rules beyond the hand-worked case: lockstep runs equal separate ones, tick strategies
see the intra-bar path, bar strategies on a longer interval get candles built by the engine's own
builder, and malformed CSV rows are counted, not fatal."""

from __future__ import annotations

import io
from decimal import Decimal

from bots.backtest import BacktestConfig, read_csv, run_backtest, run_many, synthetic
from bots.backtest.bars import CsvStats, write_csv
from bots.engine.types import RiskSettings

D = Decimal


def crossover(fast: int, slow: int, **kw) -> BacktestConfig:
    return BacktestConfig("crossover", {"fast_period": fast, "slow_period": slow, "timeframe": kw.pop("tf", "1m")},
                          **kw)


def test_many_backtests_in_lockstep_equal_the_same_backtests_run_alone():
    configs = [crossover(5, 20), crossover(10, 30, risk=RiskSettings(stop_loss_pct=D("0.2"))),
               BacktestConfig("dca", {"amount": "50", "interval_seconds": 3600},
                              risk=RiskSettings(take_profit_pct=D("0.3")))]
    together = run_many(configs, synthetic(5000, seed=2))
    for config, result in zip(configs, together, strict=True):
        alone = run_backtest(config, synthetic(5000, seed=2))
        assert [(f.time, f.price, f.quantity) for f in result.fills] == [
            (f.time, f.price, f.quantity) for f in alone.fills]
        assert result.summary == alone.summary
    assert all(r.fills for r in together)


def test_a_dca_bot_buys_on_schedule_and_its_take_profit_fills_at_the_level_on_the_way_up():
    result = run_backtest(BacktestConfig("dca", {"amount": "100", "interval_seconds": 600},
                                         capital=D(10_000), slippage_bps=D(0),
                                         risk=RiskSettings(take_profit_pct=D("0.1"))), synthetic(3000, seed=4))
    buys = [f for f in result.fills if f.side == "buy"]
    assert len(buys) > 10
    assert all((b.time - a.time).total_seconds() >= 600 for a, b in zip(buys, buys[1:], strict=False))
    exits = [f for f in result.fills if f.purpose == "take_profit"]
    assert exits
    for trip in result.trips:  # a take-profit sells at its level (a price the path passed), not at a high
        assert abs(trip.exit_price - trip.entry_price * D("1.001")) < D("1e-6")


def test_a_five_minute_strategy_on_minute_bars_decides_on_five_minute_candles():
    five = run_backtest(crossover(3, 8, tf="5m"), synthetic(6000, seed=5))
    decisions = [f.time for f in five.fills]
    assert decisions and all(t.minute % 5 == 0 and t.second == 0 for t in decisions)


def test_malformed_csv_rows_are_counted_and_skipped():
    buffer = io.StringIO()
    write_csv(synthetic(10), buffer)
    text = buffer.getvalue() + "1,2,3\nx,1,1,1,1,1\n1767225600000,1,NaN,1,1,1\n"
    stats = CsvStats()
    assert len(list(read_csv(io.StringIO(text), stats))) == 10 and stats.skipped == 3
