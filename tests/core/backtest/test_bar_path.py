"""The price path inside a bar decides which exit a bar reaches first (docs/backtesting.md, "Price path
inside a bar"): open, then the low before the high on a rising bar and the high before the low on a
falling one, then the close; an exit level on the way is reached at that level. Worked out by hand on
the live exits (stop-loss, take-profit, trailing stop): one position bought at 101.5, then one bar."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bots.backtest import BacktestConfig, run_backtest
from bots.engine.types import MarketRules, RiskSettings

D = Decimal
T0_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
# SMA 2 crosses above SMA 3 on the close of the fourth bar: bought 1 at the fifth bar's open, 101.5.
LEAD_IN = [("100", "100.5", "99.5", "100"), ("100", "100.2", "98.8", "99"), ("99", "99.2", "97.8", "98"),
           ("98", "101.2", "97.9", "101")]
CALM = [("101", "101.3", "100.7", "101")] * 3


def first_exit(bar: tuple[str, str, str, str], **risk: Decimal) -> tuple[str, Decimal]:
    """How the position bought at 101.5 was closed (the calm bars after ``bar`` bring a crossover exit)."""
    ohlc = [*LEAD_IN, bar, *CALM]
    bars = ((T0_MS + i * 60_000, D(o), D(h), D(low), D(c), D(1)) for i, (o, h, low, c) in enumerate(ohlc))
    config = BacktestConfig(
        "crossover", {"fast_period": 2, "slow_period": 3, "average": "sma", "timeframe": "1m"},
        capital=D(1000), slippage_bps=D(0), risk=RiskSettings(order_quantity=D(1), **risk),
        rules=MarketRules(D("0.01"), D("0.001"), D("10")))
    result = run_backtest(config, bars)
    assert [(f.side, f.price, f.purpose) for f in result.fills][0] == ("buy", D("101.5"), "entry")
    return result.fills[1].purpose, result.fills[1].price


# Stop 2 % below 101.5 is 99.47; target 5 % above is 106.575: this bar's range holds both.
BOTH = {"stop_loss_pct": D(2), "take_profit_pct": D(5)}


def test_a_rising_bar_reaches_its_low_first_so_the_stop_fills_before_the_target():
    assert first_exit(("101.5", "107", "99", "104"), **BOTH) == ("stop_loss", D("99.47"))


def test_a_falling_bar_reaches_its_high_first_so_the_target_fills_before_the_stop():
    assert first_exit(("101.5", "107", "99", "100"), **BOTH) == ("take_profit", D("106.575"))


def test_a_trailing_stop_follows_the_bar_s_high_and_fills_on_the_way_down_to_the_close():
    # Rising bar: 101.5 -> 101.4 (low) -> 110 (high: the trail moves to 1 % below, 108.9) -> 108.5 (close).
    assert first_exit(("101.5", "110", "101.4", "108.5"), trailing_stop_pct=D(1)) == ("trailing_stop", D("108.9"))


def test_a_bar_that_reaches_no_exit_level_leaves_the_position_to_the_strategy():
    # The calm bars after it cross SMA 2 below SMA 3: the strategy sells at the next open, 101.
    assert first_exit(("101.5", "103", "100.5", "102"), **BOTH) == ("exit", D("101"))


def test_a_grid_acts_on_the_path_s_prices_and_once_for_a_jump_through_two_lines():
    """Grid lines 90, 95, 100, 105, 110; 100 quote a line; 0.1 % fee; quantity steps of 0.001. The path's
    points are timed at 0, 15, 30 and 45 s of each minute."""
    from datetime import timedelta

    ohlc = [("101", "101.5", "100.5", "101"),  # first prices: between 100 and 105, nothing to do
            ("101", "101.2", "96", "97"),       # falling: 101, 101.2, then 96 (through line 100): buy
            ("97", "106", "96.5", "104"),       # rising: 96.5, 106 (through 100 and 105: one sell), 104: buy
            ("104", "104.2", "103.8", "104")]
    bars = ((T0_MS + i * 60_000, D(o), D(h), D(low), D(c), D(1)) for i, (o, h, low, c) in enumerate(ohlc))
    config = BacktestConfig("grid", {"lower": "90", "upper": "110", "levels": 5, "amount_per_level": "100"},
                            capital=D(1000), slippage_bps=D(0), rules=MarketRules(D("0.01"), D("0.001"), D("10")))
    result = run_backtest(config, bars)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert [(f.time - t0, f.side, f.price, f.quantity, f.fee) for f in result.fills] == [
        (timedelta(minutes=1, seconds=30), "buy", D(96), D("1.041"), D("0.099936")),    # 100 / 96, floored
        (timedelta(minutes=2, seconds=30), "sell", D(106), D("1.041"), D("0.110346")),
        (timedelta(minutes=2, seconds=45), "buy", D(104), D("0.961"), D("0.099944")),
    ]
    # 1000 - 99.936 - 0.099936 + 110.346 - 0.110346 - 99.944 - 0.099944 in cash, 0.961 held at 104
    assert result.summary["final_equity"] == D("1010.099774")
