"""The project's exchange simulator on loopback, and a manager pointed at it."""

from __future__ import annotations

import pytest

from marketdata import simulator
from marketdata.exchanges.base import Endpoint
from marketdata.feeds.connection import Backoff, ConnectionSettings
from marketdata.feeds.fallback import FallbackSettings
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.transport import TRANSPORTS, make_transport

FAST = ConnectionSettings(
    connect_timeout=3, stale_after=1.5, pong_timeout=2, healthy_after=0.2, backoff=Backoff(initial=0.05, max=0.3)
)


@pytest.fixture
async def sim():
    s = simulator.Simulator(host="127.0.0.1", port=0, seed=11, update_interval=0.05, heartbeat_interval=0.5)
    await s.start()
    yield s
    await s.stop()


def endpoints(sim) -> dict[str, Endpoint]:
    """Our endpoints for the simulator: Binance on its combined-stream URL."""
    urls = sim.urls
    return {
        "binance": Endpoint(ws=urls["binance"].stream, rest=urls["binance"].rest),
        "coinbase": Endpoint(ws=urls["coinbase"].ws, rest=urls["coinbase"].rest),
        "kraken": Endpoint(ws=urls["kraken"].ws, rest=urls["kraken"].rest),
    }


@pytest.fixture(params=TRANSPORTS, ids=[f"via_{t}" for t in TRANSPORTS])
def kind(request: pytest.FixtureRequest) -> str:
    """Each feed transport by name (``-k via_picows`` selects one; the benchmark runs them this way)."""
    return request.param


def manager(sim, kind: str | None = None, **kw) -> MarketDataManager:
    """A manager on the simulator with fast timeouts, on the default transport unless ``kind`` is given."""
    transport = make_transport(kind) if kind is not None else None
    kw.setdefault("fallback", FallbackSettings(enabled=False))
    return MarketDataManager(endpoints=endpoints(sim), settings=FAST, transport=transport, **kw)


@pytest.fixture
async def mgr(sim):
    m = manager(sim)
    yield m
    await m.close()
