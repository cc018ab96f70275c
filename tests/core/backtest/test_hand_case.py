"""A case worked out by hand: every fill, fee and the final equity of the live bot code replayed on
thirty 1-minute candles (SMA 2/3 crossover, 1 BTC per order, 5 % take-profit, 2 % stop-loss, Binance's
0.1 % taker fee, no slippage)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bots.backtest import BacktestConfig, run_backtest
from bots.engine.types import MarketRules, RiskSettings

D = Decimal
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)
# open, high, low, close; comments give the closes' SMA(2) vs SMA(3) where it matters.
OHLC = [
    ("100", "100.5", "99.5", "100"),
    ("100", "100.2", "98.8", "99"),
    ("99", "99.2", "97.8", "98"),      # 98.5 < 99: fast below slow
    ("98", "101.2", "97.9", "101"),    # 99.5 > 99.33: cross up -> buy at the next open
    ("101.5", "104.3", "101.2", "104"),  # bought 1 at 101.5 (stop 99.47, target 106.575)
    ("104", "106.5", "103.8", "106"),
    ("106", "106.2", "102.9", "103"),
    ("103", "103.1", "99.8", "100"),   # 101.5 < 103: cross down -> sell at the next open
    ("99.5", "99.9", "98.7", "99"),    # sold 1 at 99.5
    ("99", "99.3", "97.6", "98"),
    ("98", "102.3", "97.9", "102"),    # 100 > 99.67: cross up -> buy
    ("102", "108", "101.5", "105"),    # bought at 102; on the way from 101.5 up to 108 the target 107.1 is hit
    ("105", "105.5", "99.5", "100"),
    ("100", "100.4", "96.5", "97"),    # cross down, nothing held
    ("97", "101.5", "96.8", "101"),
    ("101", "104.2", "100.6", "104"),  # cross up -> buy
    ("104", "104.5", "100", "101"),    # bought at 104; falling bar: 104.5 then down through the stop 101.92
] + [("101", "101.3", "100.7", "101")] * 13


def bars():
    for i, (o, h, low, c) in enumerate(OHLC):
        yield T0_MS + i * 60_000, D(o), D(h), D(low), D(c), D("1")


@pytest.fixture(scope="module")
def result():
    config = BacktestConfig(
        "crossover", {"fast_period": 2, "slow_period": 3, "average": "sma", "timeframe": "1m"},
        capital=D(1000), slippage_bps=D(0),
        risk=RiskSettings(order_quantity=D(1), take_profit_pct=D(5), stop_loss_pct=D(2)),
        rules=MarketRules(D("0.01"), D("0.001"), D("10")))
    return run_backtest(config, bars())


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_every_fill_is_where_the_rules_put_it(result):
    fills = [(f.time, f.side, f.price, f.quantity, f.fee, f.purpose) for f in result.fills]
    assert fills == [
        (at(4), "buy", D("101.5"), D(1), D("0.1015"), "entry"),
        (at(8), "sell", D("99.5"), D(1), D("0.0995"), "exit"),
        (at(11), "buy", D("102"), D(1), D("0.102"), "entry"),
        (at(11) + timedelta(seconds=30), "sell", D("107.1"), D(1), D("0.1071"), "take_profit"),
        (at(16), "buy", D("104"), D(1), D("0.104"), "entry"),
        (at(16) + timedelta(seconds=30), "sell", D("101.92"), D(1), D("0.10192"), "stop_loss"),
    ]


def test_round_trips_carry_their_fees(result):
    assert [(t.entry_price, t.exit_price, t.pnl) for t in result.trips] == [
        (D("101.5"), D("99.5"), D("-2.201")),     # -2 - 0.1015 - 0.0995
        (D("102"), D("107.1"), D("4.8909")),      # 5.1 - 0.102 - 0.1071
        (D("104"), D("101.92"), D("-2.28592")),   # -2.08 - 0.104 - 0.10192
    ]


def test_summary_matches_the_hand_computation(result):
    s = result.summary
    assert s["final_equity"] == D("1000.40398")
    assert s["net_profit"] == D("0.40398")
    assert s["fees"] == D("0.61602")
    assert s["trades"] == 3 and s["bars"] == 30
    assert s["win_rate_pct"] == D(100) / 3
    assert s["profit_factor"] == D("4.8909") / D("4.48692")
    # Peak 1004.3985 at the close of minute 6 (1 BTC marked at 106); trough 997.799 after the first sale;
    # never back above that peak, so the drawdown lasts to the last close (minute 30).
    assert s["max_drawdown"] == D("6.5995")
    assert s["max_drawdown_pct"] == D("6.5995") * 100 / D("1004.3985")
    assert s["max_drawdown_duration_s"] == 24 * 60
    assert s["exposure_pct"] == D(4) * 100 / 30  # holding at the close of minutes 5-8
    assert s["exposure_time_s"] == 4 * 60
    assert s["buy_and_hold_pct"] == D(1)  # 100 -> 101
    assert s["open_position"] == 0
    assert s["return_pct"] == D("0.040398")
    assert s["average_trade"] == D("0.40398") / 3
    assert s["buy_and_hold_profit"] == D(10)
    # Half an hour: no yearly rate, and fewer than two daily returns for Sharpe and Sortino.
    assert s["cagr_pct"] is None and s["sharpe"] is None and s["sortino"] is None
