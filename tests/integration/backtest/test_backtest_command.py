"""``manage.py backtest`` over stored history (--market) and a CSV (--candles): the same live code, the
same answer either way; JSON trades and summary; a bot's own settings."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from bots.backtest.bars import synthetic, write_csv
from marketdata.history import find_market, import_csv

pytestmark = pytest.mark.django_db
START = "2026-01-01T00:00"


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "btc.csv"
    with path.open("w") as f:
        write_csv(synthetic(3000, seed=3), f)
    return path


def backtest(*args: str) -> dict:
    out = io.StringIO()
    call_command("backtest", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_stored_history_and_the_csv_give_the_same_trades(catalogue, csv_file):
    with csv_file.open() as f:
        import_csv(find_market("binance", "BTC/USDT"), "1m", f)
    common = ("--strategy", "crossover", "--params", '{"fast": 10, "slow": 30, "kind": "sma"}',
              "--capital", "5000", "--order-size", "1000", "--take-profit", "0.1")
    stored = backtest(*common, "--market", "binance:BTC/USDT", "--since", START)
    from_csv = backtest(*common, "--candles", str(csv_file))
    assert stored["trades"] == from_csv["trades"] and stored["summary"] == from_csv["summary"]
    assert stored["summary"]["bars"] == 3000 and stored["summary"]["trades"] > 10
    first = stored["trades"][0]
    assert set(first) == {"time", "side", "price", "quantity", "fee", "purpose"}
    # Sized at the signal's close, filled at the next open plus slippage: about the order size.
    assert first["side"] == "buy" and 990 < Decimal(first["price"]) * Decimal(first["quantity"]) < 1005
    assert {t["purpose"] for t in stored["trades"]} >= {"entry", "take_profit"}
    # A range: fewer bars, and nothing before --since.
    part = backtest(*common, "--market", "binance:BTC/USDT", "--since", "2026-01-01T10:00",
                    "--until", "2026-01-01T20:00")
    assert part["summary"]["bars"] == 600 and part["summary"]["start"] == "2026-01-01T10:00:00+00:00"


def test_fixed_quantity_orders(catalogue, csv_file):
    data = backtest("--params", '{"fast_period": 5, "slow_period": 20}', "--candles", str(csv_file),
                    "--quantity", "0.01")
    assert data["trades"] and {t["quantity"] for t in data["trades"]} == {"0.01"}


def test_a_bot_is_backtested_with_its_own_settings(alice, make_bot, csv_file):
    bot = make_bot(alice, exchange="binance", params={"fast_period": 4, "slow_period": 12}, order_size=Decimal("250"))
    data = backtest("--bot", str(bot.id), "--candles", str(csv_file))
    buys = [t for t in data["trades"] if t["side"] == "buy"]
    assert buys and all(245 < Decimal(t["price"]) * Decimal(t["quantity"]) < 252 for t in buys)


def test_bad_input_is_a_readable_error(catalogue, csv_file):
    with pytest.raises(CommandError, match="slow_period"):
        backtest("--params", '{"fast": 30, "slow": 10}', "--candles", str(csv_file))
    with pytest.raises(CommandError, match="--market"):
        backtest("--params", "{}")


def test_a_cooldown_spaces_the_entries_as_it_does_live(catalogue, csv_file):
    data = backtest("--params", '{"fast_period": 3, "slow_period": 8}', "--candles", str(csv_file),
                    "--cooldown", "3600")
    buys = [t["time"] for t in data["trades"] if t["side"] == "buy"]
    from datetime import datetime

    times = [datetime.fromisoformat(t) for t in buys]
    assert len(times) > 5 and all((b - a).total_seconds() >= 3600 for a, b in zip(times, times[1:], strict=False))
    assert data["rejections"].get("cooldown")


def test_stop_loss_and_trailing_stop_options_close_positions_as_the_bot_would(catalogue, csv_file):
    params = '{"fast_period": 5, "slow_period": 20}'
    plain = backtest("--params", params, "--candles", str(csv_file))
    assert {t["purpose"] for t in plain["trades"]} == {"entry", "exit"}
    stopped = backtest("--params", params, "--candles", str(csv_file), "--stop-loss", "0.05")
    assert "stop_loss" in {t["purpose"] for t in stopped["trades"]}
    trailed = backtest("--params", params, "--candles", str(csv_file), "--trailing-stop", "0.05")
    assert "trailing_stop" in {t["purpose"] for t in trailed["trades"]}
    # Each exit sells what its entry bought: the position is flat after every stop.
    for data in (stopped, trailed):
        trades = data["trades"]
        for buy, sell in zip(trades[::2], trades[1::2], strict=False):
            assert (buy["side"], sell["side"], buy["quantity"]) == ("buy", "sell", sell["quantity"])


def test_risk_limits_act_as_they_do_live(catalogue, csv_file):
    params = '{"fast_period": 5, "slow_period": 20}'
    free = backtest("--params", params, "--candles", str(csv_file))
    assert len(free["trades"]) > 50 and free["summary"]["paused"] is None
    # A daily loss limit of 1: the bot pauses once its day is 1 down, says when and why, and stays paused
    # (as live: it needs a person to resume it), so it trades no more after that moment.
    limited = backtest("--params", params, "--candles", str(csv_file), "--max-daily-loss", "1")
    when, why = limited["summary"]["paused"].split(": ", 1)
    assert why == "Daily loss limit reached"
    assert limited["trades"] and all(t["time"] <= when for t in limited["trades"])
    assert len(limited["trades"]) < len(free["trades"])
    # A position limit below one order's size: every entry is refused by the risk check, and counted.
    capped = backtest("--params", params, "--candles", str(csv_file), "--quantity", "0.01", "--max-position", "0.005")
    assert capped["trades"] == [] and capped["rejections"]["max_position"] > 0
    assert capped["summary"]["orders_rejected"] == capped["rejections"]["max_position"]
