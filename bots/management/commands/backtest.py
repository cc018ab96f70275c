"""``backtest``: replay a strategy (or a bot's settings) over stored history or a CSV and print the
trades and the summary (``--json`` for machines)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bots.engine.strategies import ParamsError
from bots.services.backtests import BacktestRequest, csv_bars, request_for_bot, result_json, run
from marketdata.history import find_market, parse_utc
from marketdata.models import Market


def dec(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise CommandError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise CommandError(f"not a finite number: {text!r}")
    return value


class Command(BaseCommand):
    help = "Backtest a strategy with the live bot code over stored candles (--market) or a CSV (--candles)."

    def add_arguments(self, p: CommandParser) -> None:
        p.add_argument("--strategy", default="crossover")
        p.add_argument("--params", default="{}", help='JSON, e.g. {"fast": 10, "slow": 30, "kind": "sma"}')
        p.add_argument("--bot", type=int, help="use this bot's strategy, parameters, market and risk settings")
        p.add_argument("--market", help="exchange:SYMBOL, e.g. binance:BTC/USDT (stored history)")
        p.add_argument("--candles", help="CSV file: timestamp_ms,open,high,low,close,volume")
        p.add_argument("--timeframe", default="1m", help="of the candles")
        p.add_argument("--since", type=parse_utc)
        p.add_argument("--until", type=parse_utc)
        p.add_argument("--capital", type=dec, default=Decimal(1000))
        p.add_argument("--order-size", type=dec, help="quote amount per entry (default: all the capital)")
        p.add_argument("--quantity", type=dec, help="fixed base quantity per entry")
        p.add_argument("--stop-loss", type=dec, help="percent")
        p.add_argument("--take-profit", type=dec, help="percent")
        p.add_argument("--trailing-stop", type=dec, help="percent")
        p.add_argument("--max-daily-loss", type=dec, help="quote amount")
        p.add_argument("--max-position", type=dec, help="base units")
        p.add_argument("--max-open-orders", type=int, default=1)
        p.add_argument("--cooldown", type=float, default=0.0, help="seconds between entries")
        p.add_argument("--slippage-bps", type=dec, default=Decimal(5))
        p.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **o: Any) -> None:
        request = self.request(o)
        bars = csv_bars(o["candles"]) if o["candles"] else None
        try:
            result = run(request, bars)
        except (ParamsError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        data = result_json(result, curves=False)
        if o["json"]:
            self.stdout.write(json.dumps(data, indent=1))
            return
        for t in data["trades"]:
            self.stdout.write(f"{t['time']}  {t['side']:4}  {t['price']:>16}  {t['quantity']:>14}  fee {t['fee']}"
                              f"  ({t['purpose']})")
        for key, value in data["summary"].items():
            self.stdout.write(f"{key:26} {value}")

    def request(self, o: dict[str, Any]) -> BacktestRequest:
        try:
            params = json.loads(o["params"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not JSON: {exc}") from None
        if o["bot"] is not None:
            request = request_for_bot(o["bot"])
        else:
            request = BacktestRequest(o["strategy"], params)
        if o["market"]:
            exchange, _, symbol = o["market"].partition(":")
            try:
                request.market = find_market(exchange, symbol)
            except Market.DoesNotExist:
                raise CommandError(f"unknown market {o['market']!r}") from None
        elif not o["candles"] and request.market is None:
            raise CommandError("give --market exchange:SYMBOL (stored history) or --candles FILE.csv")
        request.timeframe, request.since, request.until = o["timeframe"], o["since"], o["until"]
        if o["bot"] is None:
            request.capital = o["capital"]
            request.risk = {"order_size": o["order_size"], "order_quantity": o["quantity"],
                            "stop_loss_pct": o["stop_loss"], "take_profit_pct": o["take_profit"],
                            "trailing_stop_pct": o["trailing_stop"], "max_daily_loss": o["max_daily_loss"],
                            "max_position": o["max_position"], "max_open_orders": o["max_open_orders"],
                            "cooldown_seconds": o["cooldown"]}
        request.slippage_bps = o["slippage_bps"]
        return request
