"""Where the engine's market data and REST calls go: the simulator, or the exchanges (with overrides)."""

from __future__ import annotations

import pytest

from bots.engine_host import database_venues, simulator_venues
from marketdata.exchanges.binance.feed import BinanceAdapter
from marketdata.models import Exchange


@pytest.mark.django_db
def test_live_feeds_use_each_exchanges_endpoints_and_honour_overrides(catalogue):
    Exchange.objects.filter(code="kraken").update(ws_url="wss://kraken.example/v2")
    Exchange.objects.filter(code="simulator").update(ws_url="ws://127.0.0.1:9/binance/stream",
                                                     rest_url="http://127.0.0.1:9/binance")
    Exchange.objects.filter(code="coinbase").update(enabled=False)
    v = database_venues()
    assert v.endpoints["binance"].ws == "wss://stream.binance.com:9443/stream"
    assert v.endpoints["kraken"].ws == "wss://kraken.example/v2"
    assert "coinbase" not in v.endpoints
    assert isinstance(v.adapters["simulator"], BinanceAdapter)  # the simulator speaks Binance's protocol
    assert v.endpoints["binance"].rest == "https://api.binance.com"
    assert v.endpoints["simulator"].rest == "http://127.0.0.1:9/binance"


def test_simulator_feeds_point_every_exchange_at_the_simulator():
    class U:
        def __init__(self, ws, rest, stream=""):
            self.ws, self.rest, self.stream = ws, rest, stream

    urls = {"binance": U("ws://h/binance/ws", "http://h/binance", "ws://h/binance/stream"),
            "kraken": U("ws://h/kraken/v2", "http://h/kraken")}
    v = simulator_venues(urls)
    assert v.endpoints["binance"].ws == "ws://h/binance/stream" == v.endpoints["simulator"].ws
    assert v.endpoints["kraken"].ws == "ws://h/kraken/v2"
    assert v.endpoints["binance"].rest == "http://h/binance" == v.endpoints["simulator"].rest
    assert v.endpoints["kraken"].rest == "http://h/kraken" and v.adapter("kraken").name == "kraken"
