"""The feed metrics reach Prometheus: a scrape of the exported endpoint shows live counters."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

from marketdata.feeds.metrics import serve_metrics
from marketdata.feeds.types import Subscription


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, exchange: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{exchange="{exchange}"}}'):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} for {exchange} not exported")


async def test_a_prometheus_scrape_shows_messages_and_health_per_exchange(sim, mgr):
    seen: list[object] = []
    await mgr.subscribe(Subscription("binance", "ticker", "BTC/USDT"), seen.append)
    for _ in range(100):
        if len(seen) >= 3:
            break
        await asyncio.sleep(0.05)
    port = free_port()
    stop = serve_metrics(mgr.prometheus_registry, port)
    try:
        text = await asyncio.to_thread(scrape, port)
        assert sample(text, "marketdata_messages_total", "binance") >= 3
        assert sample(text, "marketdata_health", "binance") in (1.0, 2.0)
        assert sample(text, "marketdata_parse_errors_total", "binance") == 0
    finally:
        stop()
