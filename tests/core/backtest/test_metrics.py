"""The statistics of the summary worked out by hand (bots/backtest/metrics.py's conventions): Sharpe and
Sortino from daily returns annualised with sqrt(365), CAGR over the run's span, drawdown depth and
duration from the running peak."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from bots.backtest.metrics import DAY_MS, Ledger

D = Decimal


def test_sharpe_and_sortino_from_daily_returns():
    ledger = Ledger(D(1000))
    ledger.first_ms = 0
    # The equity at each day's last bar: 1100, 990, 1089 -> daily returns +10 %, -10 %, +10 %.
    for day, equity in enumerate((D(1100), D(990), D(1089))):
        ledger.mark(day * DAY_MS + DAY_MS - 60_000, equity, holding=True)
    s = ledger.summary([], D(0))
    # mean 1/30; sample deviation sqrt((2 (1/15)^2 + (2/15)^2) / 2) = 1/sqrt(75)
    assert s["sharpe"] == pytest.approx((1 / 30) * math.sqrt(75) * math.sqrt(365))
    # downside deviation sqrt(0.1^2 / 3) over all three days
    assert s["sortino"] == pytest.approx((1 / 30) / (0.1 / math.sqrt(3)) * math.sqrt(365))
    assert s["net_profit"] == D(89) and s["return_pct"] == D("8.9")
    # Peak 1100 on day 1, 990 on day 2 is 10 % below it, and equity is not back at 1100 by the end.
    assert s["max_drawdown"] == D(110) and s["max_drawdown_pct"] == D(10)
    assert s["max_drawdown_duration_s"] == 2 * 86_400
    assert s["cagr_pct"] is None  # three days: too short to state a yearly rate


def test_cagr_compounds_the_return_over_the_span():
    ledger = Ledger(D(1000))
    ledger.first_ms = 0
    two_years_ms = int(2 * 365.25 * DAY_MS)
    ledger.mark(two_years_ms // 2, D(1100), holding=True)
    ledger.mark(two_years_ms, D(1210), holding=False)
    s = ledger.summary([], D(0))
    assert s["cagr_pct"] == pytest.approx(10.0)  # 1.21 over two years is 10 % a year
    assert s["exposure_pct"] == D(50)
