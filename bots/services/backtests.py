"""Backtests: settings from a form, a command line or a bot; bars from stored history or a CSV; the
result as JSON; and the writers of backtest runs and sweeps (the only code that saves them)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from bots.backtest import BacktestConfig, BacktestResult, read_csv, run_backtest
from bots.backtest.bars import Bar, in_order
from bots.engine.strategies import get_strategy, validate_params
from bots.engine.strategies.base import TIMEFRAMES
from bots.engine.types import MarketRules, RiskSettings
from marketdata.feeds.types import Instrument
from marketdata.history import candle_bars
from marketdata.models import Market

QUANTUM = Decimal("1e-12")
RISK_FIELDS = ("order_size", "order_quantity", "max_position", "stop_loss_pct", "take_profit_pct",
               "trailing_stop_pct", "max_daily_loss")


@dataclass
class BacktestRequest:
    """What to replay, as a user states it (command line, form, sweep row)."""

    strategy: str
    params: dict[str, Any]
    market: Market | None = None
    timeframe: str = "1m"
    since: datetime | None = None
    until: datetime | None = None
    capital: Decimal = Decimal(1000)
    risk: dict[str, Any] | None = None  # RiskSettings fields
    slippage_bps: Decimal = Decimal(5)

    def config(self) -> BacktestConfig:
        """The engine-side settings; ``ParamsError`` for parameters the strategy refuses."""
        params = validate_params(self.strategy, self.params)
        if params.get("timeframe", "tick") != "tick" and "timeframe" not in self.params \
                and self.timeframe in TIMEFRAMES:
            params["timeframe"] = self.timeframe  # a bar strategy runs on the data's bars unless told
        risk = RiskSettings(**{k: v for k, v in (self.risk or {}).items() if v is not None})
        market = self.market
        if market is None:
            return BacktestConfig(self.strategy, params, timeframe=self.timeframe, capital=self.capital, risk=risk,
                                  slippage_bps=self.slippage_bps)
        rules = MarketRules(market.price_tick, market.quantity_step, market.min_notional or Decimal(0),
                            market.base, market.quote)
        return BacktestConfig(self.strategy, params, Instrument(market.exchange.code, market.symbol),
                              self.timeframe, self.capital, risk, rules, self.slippage_bps)

    def bars(self) -> Iterator[Bar]:
        """The market's stored candles over the range, streamed."""
        if self.market is None:
            raise ValueError("a market (or a CSV file) is needed")
        return in_order(candle_bars(self.market, self.timeframe, self.since, self.until))


def request_for_bot(bot_id: int) -> BacktestRequest:
    """A request with a bot's strategy, parameters, market, capital and risk settings."""
    from bots.models import Bot
    from bots.store import bot_spec

    bot = Bot.objects.select_related("market__exchange", "exchange").get(pk=bot_id)
    spec = bot_spec(bot)
    risk = {k: getattr(spec.risk, k) for k in (*RISK_FIELDS, "max_open_orders", "cooldown_seconds")}
    return BacktestRequest(spec.strategy, dict(spec.params), bot.market, capital=spec.capital, risk=risk)


def csv_bars(path: str) -> Iterator[Bar]:
    """Bars from a CSV file, streamed (the file stays open while they are read)."""
    with open(path, newline="") as stream:
        yield from in_order(read_csv(stream))


def run(request: BacktestRequest, bars: Iterable[Bar] | None = None,
        progress: Callable[[int], None] | None = None) -> BacktestResult:
    """Replay the request over ``bars`` (default: the market's stored history)."""
    return run_backtest(request.config(), request.bars() if bars is None else bars, progress=progress)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):  # exact to the 12 places amounts are stored with, no trailing zeros
        if value.as_tuple().exponent < -12:  # type: ignore[operator]
            value = value.quantize(QUANTUM)
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def result_json(result: BacktestResult, *, curves: bool = True) -> dict[str, Any]:
    """The result as JSON-friendly data: money as decimal strings, times as ISO 8601."""
    data: dict[str, Any] = {
        "summary": {k: _plain(v) for k, v in result.summary.items()},
        "trades": [{"time": _plain(f.time), "side": f.side, "price": _plain(f.price), "quantity": _plain(f.quantity),
                    "fee": _plain(f.fee), "purpose": f.purpose} for f in result.fills],
        "round_trips": [{"entry_time": _plain(t.entry_time), "exit_time": _plain(t.exit_time),
                         "entry_price": _plain(t.entry_price), "exit_price": _plain(t.exit_price),
                         "quantity": _plain(t.quantity), "pnl": _plain(t.pnl), "fees": _plain(t.fees)}
                        for t in result.trips],
        "rejections": result.rejections,
    }
    if curves:
        data["equity"] = [list(p) for p in result.equity]
        data["prices"] = [list(p) for p in result.prices]
    return data


def canonical(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters under the strategy's own names (``fast`` -> ``fast_period``), as given otherwise."""
    aliases = get_strategy(strategy).aliases
    return {aliases.get(k, k): v for k, v in params.items()}


def grid(ranges: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the parameter values, in a stable order."""
    names = sorted(ranges)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(ranges[n] for n in names))]
