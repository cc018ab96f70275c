"""Simulator headroom: it must outrun the clients it feeds, or the feed benchmarks measure it instead.

- firehose send rate: frames/s the simulator writes to one subscriber whose reader (a subprocess on
  the other core) drains raw TCP without decoding, so only the simulator's side is timed. Baseline:
  the bare ``websockets`` + ``orjson`` client's read rate from the issue (230,000/s).
- model step: CPU per market step (random walk, book diff, trade, candle) with one subscriber on
  every Binance stream of the market.
- openOrders with 10,000 open orders: one signed ``GET /api/v3/openOrders`` round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from marketdata.simulator import SimulatorThread

FRAMES = 300_000
CLIENT_CEILING = 230_000  # bare websockets + orjson reads/s on this machine (issue 3, section 7)

DRAIN = r"""
import socket, sys
from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
sock = socket.create_connection((url.hostname, url.port))
sock.sendall((f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
head = b""
while b"\r\n\r\n" not in head:
    head += sock.recv(4096)
print("READY", flush=True)
while sock.recv(1 << 20):
    pass
"""


def firehose_rate(sim: SimulatorThread) -> float:
    """Frames/s written by ``firehose`` to a draining subscriber."""
    url = sim.urls["binance"].ws + "/btcusdt@bookTicker"
    proc = subprocess.Popen([sys.executable, "-c", DRAIN, url], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        deadline = time.monotonic() + 5
        while not sim.call(lambda: bool(sim.sim.binance.subscribers.get("btcusdt@bookTicker"))):
            if time.monotonic() > deadline:
                raise TimeoutError("drain client never subscribed")
            time.sleep(0.01)
        started = time.perf_counter()
        sent = sim.firehose(FRAMES)
        return sent / (time.perf_counter() - started)
    finally:
        proc.kill()
        proc.wait()


def step_cost_us(sim: SimulatorThread) -> float:
    """Microseconds of CPU per model step of one market, with its streams subscribed."""

    def measure() -> float:
        inner = sim.sim
        assert inner is not None
        venue = inner.binance
        market = inner.market("binance", "BTC/USDT")
        sink: Any = type("Sink", (), {"state": {"combined": True}, "closed": False, "send": lambda self, t: None})()
        for kind in ("bookTicker", "depth@100ms", "trade", "ticker", "kline_1m"):
            venue.subscribers[f"btcusdt@{kind}"].add(sink)
        started = time.process_time()
        for _ in range(2000):
            venue.publish(market.step(0.1))
        for kind in ("bookTicker", "depth@100ms", "trade", "ticker", "kline_1m"):
            venue.subscribers[f"btcusdt@{kind}"].discard(sink)
        return (time.process_time() - started) / 2000 * 1e6

    return float(sim.call(measure))


def open_orders_ms(sim: SimulatorThread) -> float:
    """Milliseconds for a signed openOrders request over 10,000 open orders."""

    def fill_book() -> None:
        inner = sim.sim
        assert inner is not None
        engine = inner.binance.trading
        account = inner.binance.add_account("bench", "secret", {"USDT": "100000000"})
        for i in range(10_000):
            engine.place(account, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                   "quantity": "0.001", "price": str(Decimal("50000") - i % 1000)})

    sim.call(fill_book)
    best = float("inf")
    for _ in range(3):
        query = urlencode({"symbol": "BTCUSDT", "timestamp": int(time.time() * 1000)})
        signature = hmac.new(b"secret", query.encode(), hashlib.sha256).hexdigest()
        request = urllib.request.Request(f"{sim.urls['binance'].rest}/api/v3/openOrders?{query}&signature={signature}",
                                         headers={"X-MBX-APIKEY": "bench"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def run() -> list[dict[str, Any]]:
    """The simulator's rows."""
    with SimulatorThread(update_interval=3600, venues=("binance",)) as sim:
        sim.pause()
        rate = firehose_rate(sim)
        step = step_cost_us(sim)
        orders = open_orders_ms(sim)
    return [
        {"name": "simulator firehose send rate", "value": round(rate), "unit": "msg/s",
         "baseline": CLIENT_CEILING, "ratio": round(rate / CLIENT_CEILING, 2)},
        {"name": "simulator model step (one market, five streams)", "value": round(step, 1), "unit": "us",
         "baseline": None, "ratio": None},
        {"name": "simulator openOrders with 10,000 open orders", "value": round(orders, 1), "unit": "ms",
         "baseline": None, "ratio": None},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
