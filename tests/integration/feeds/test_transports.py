"""Every transport against the simulator: every venue, faults, and wss with the simulator's certificate."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from marketdata.exchanges.base import Endpoint
from marketdata.feeds.fallback import FallbackSettings
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.transport import make_transport
from marketdata.feeds.types import Subscription
from tests.core.feeds.fakes import wait_until

from .conftest import FAST, manager, simulator

SYMBOLS = {"binance": "BTC/USDT", "coinbase": "BTC/USD", "kraken": "BTC/USD"}


@pytest.fixture
async def mgr(sim, kind: str):
    """Here every test runs once per transport."""
    m = manager(sim, kind)
    yield m
    await m.close()


def _consistent(sim, mgr, venue: str) -> bool:
    book = mgr.book(venue, SYMBOLS[venue])
    return book is not None and (book.best_bid()[0], book.best_ask()[0]) == sim.best_bid_ask(venue, SYMBOLS[venue])


@pytest.mark.parametrize("venue", ["binance", "coinbase", "kraken"])
async def test_books_and_tickers_survive_drops_stalls_and_garbage(sim, mgr, venue: str) -> None:
    ticks: list = []
    events: list = []
    mgr.add_event_listener(events.append)
    await mgr.subscribe(Subscription(venue, "ticker", SYMBOLS[venue]), ticks.append)
    await mgr.subscribe(Subscription(venue, "book", SYMBOLS[venue]), lambda e: None)
    await wait_until(lambda: mgr.book(venue, SYMBOLS[venue]) is not None and ticks, timeout=8)
    sent = sim.venue(venue).send_malformed()
    await wait_until(lambda: mgr.metrics()["exchanges"][venue]["parse_errors"] >= sent, timeout=5)
    sim.venue(venue).drop_connections()
    await wait_until(lambda: [e.kind for e in events].count("connected") >= 2, timeout=8)
    sim.venue(venue).stall(True)
    await wait_until(lambda: [e.kind for e in events].count("connected") >= 3, timeout=10)
    sim.paused = True
    # A Binance book resyncs only on a diff that overlaps its REST snapshot: if the snapshot came
    # after the last diff, it waits for the next one, so keep stepping the paused market until the
    # books agree (bounded), rather than betting on one step landing after the snapshot.
    for _ in range(40):
        await sim.step(venue)
        await asyncio.sleep(0.2)
        if _consistent(sim, mgr, venue):
            break
    assert _consistent(sim, mgr, venue)
    assert {(e.exchange, e.symbol) for e in ticks} == {(venue, SYMBOLS[venue])}
    assert len([c for c in sim.venue(venue).connections if not c.closed]) == 1


async def test_wss_with_the_simulators_self_signed_certificate(kind: str) -> None:
    sim = simulator.Simulator(host="127.0.0.1", port=0, seed=5, tls=True, update_interval=0.05)
    await sim.start()
    context = ssl.create_default_context(cafile=sim.cert_path)
    urls = sim.urls
    assert urls["kraken"].ws.startswith("wss://")
    mgr = MarketDataManager(endpoints={"kraken": Endpoint(ws=urls["kraken"].ws, rest=urls["kraken"].rest)},
                            settings=FAST, transport=make_transport(kind, ssl_context=context),
                            fallback=FallbackSettings(enabled=False))  # fmt: skip
    got: list = []
    try:
        await mgr.subscribe(Subscription("kraken", "ticker", "BTC/USD"), got.append)
        await wait_until(lambda: got, timeout=8)
    finally:
        await mgr.close()
        await sim.stop()
