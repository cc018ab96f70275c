"""Cross-check with an independent backtester (backtesting.py, a test-only dependency): the live
crossover strategy replayed by ``bots.backtest`` and backtesting.py's own SMA 10/30 crossover, long
only, filled at the next bar's open, must make the same trades on a long synthetic series."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

from bots.backtest import BacktestConfig, run_backtest, synthetic
from bots.engine.types import MarketRules, RiskSettings

BARS = 50_000
SEED = 11


def sma(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCrossLongOnly(Strategy):
    fast, slow = 10, 30

    def init(self):
        self.f = self.I(sma, self.data.Close, self.fast)
        self.s = self.I(sma, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s) and not self.position:
            self.buy(size=1)
        elif crossover(self.s, self.f) and self.position:
            self.position.close()


def reference_trades():
    rows = list(synthetic(BARS, seed=SEED))
    frame = pd.DataFrame(
        [(float(o), float(h), float(low), float(c), float(v)) for _, o, h, low, c, v in rows],
        columns=["Open", "High", "Low", "Close", "Volume"],
        index=pd.to_datetime([r[0] for r in rows], unit="ms", utc=True))
    bt = Backtest(frame, SmaCrossLongOnly, cash=1e9, commission=0.001, trade_on_close=False)
    return bt.run()._trades


def test_same_trades_as_backtesting_py():
    ours = run_backtest(BacktestConfig(
        "crossover", {"fast_period": 10, "slow_period": 30, "average": "sma", "timeframe": "1m"},
        capital=Decimal(10**9), slippage_bps=Decimal(0),
        risk=RiskSettings(order_quantity=Decimal(1)), rules=MarketRules(quantity_step=Decimal(1))),
        synthetic(BARS, seed=SEED))
    theirs = reference_trades()
    assert len(ours.trips) > 300  # a real test: many crosses on 50,000 minutes
    assert [(int(t.entry_time.timestamp()), t.entry_price, int(t.exit_time.timestamp()), t.exit_price)
            for t in ours.trips] == [
        (int(r.EntryTime.timestamp()), Decimal(str(r.EntryPrice)), int(r.ExitTime.timestamp()),
         Decimal(str(r.ExitPrice))) for r in theirs.itertuples()]
    for mine, ref in zip(ours.trips, theirs.itertuples(), strict=True):
        assert abs(float(mine.pnl) - ref.PnL) < 1e-6  # the same 0.1 % fee on both legs
