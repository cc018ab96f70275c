"""Backtests: the live bot code replayed over candles with a simulated clock (no Django).

``sim`` drives the engine's ``BotRunner`` and the paper broker's fill model; ``bars`` streams candles;
``metrics`` turns equity into the summary. See ``sim``'s docstring for the price-path and fill rules.
"""

from .bars import Bar, read_csv, synthetic, timeframe_ms
from .metrics import RoundTrip
from .sim import BacktestConfig, BacktestResult, TradeRecord, run_backtest, run_many

__all__ = ["Bar", "BacktestConfig", "BacktestResult", "RoundTrip", "TradeRecord", "read_csv", "run_backtest",
           "run_many", "synthetic", "timeframe_ms"]
