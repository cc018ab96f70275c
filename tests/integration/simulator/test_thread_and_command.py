"""The background-thread wrapper for synchronous callers, and ``manage.py simulator``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from pathlib import Path

from marketdata.simulator import SimulatorThread

ROOT = Path(__file__).resolve().parents[3]


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_simulator_thread_lets_synchronous_code_script_prices_and_accounts() -> None:
    with SimulatorThread(seed=3, venues=("binance",)) as sim:
        sim.pause()
        sim.set_price("binance", "BTC/USDT", "101.5")
        assert sim.price("binance", "BTC/USDT") == Decimal("101.5")
        ticker = get_json(sim.urls["binance"].rest + "/api/v3/ticker/bookTicker?symbol=BTCUSDT")
        assert (ticker["bidPrice"], ticker["askPrice"]) == ("101.49000000", "101.51000000")
        sim.binance.add_account("k", "s", {"USDT": "10"})
        assert sim.binance.balances("k")["USDT"] == (Decimal("10"), Decimal("0"))


def test_management_command_prints_one_line_per_venue_and_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "manage.py", "simulator", "--port", "0", "--seed", "5"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline().split() for _ in range(3)]
        assert [line[0] for line in lines] == ["binance", "coinbase", "kraken"]
        venue, ws_url, rest_url = lines[0]
        assert ws_url.startswith("ws://127.0.0.1:") and ws_url.endswith("/binance/ws")
        assert get_json(rest_url + "/api/v3/ping") == {}
        assert "result" in get_json(lines[2][2] + "/0/public/AssetPairs")
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
        assert time.monotonic() - started < 5
