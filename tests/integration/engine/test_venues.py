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
    assert v.endpoints["binance"].rest == "https://api.binance.com"
    assert "simulator" not in v.endpoints  # the simulator exchange exists only in simulator mode


@pytest.mark.django_db
def test_the_testnet_flag_moves_every_endpoint_and_is_refused_where_a_venue_has_none(catalogue):
    from django.core.exceptions import ValidationError

    Exchange.objects.filter(code="binance").update(testnet=True)
    v = database_venues()
    assert v.endpoints["binance"].ws.startswith("wss://stream.testnet.binance.vision")
    assert v.endpoints["binance"].rest == "https://testnet.binance.vision"
    kraken = Exchange.objects.get(code="kraken")
    kraken.testnet = True
    with pytest.raises(ValidationError, match="no testnet"):
        kraken.full_clean()
    Exchange.objects.filter(code="kraken").update(testnet=True)  # saved around the admin's check
    assert "kraken" not in database_venues().endpoints  # left out, never its real endpoint instead


def test_simulator_feeds_point_every_exchange_at_the_simulator():
    class U:
        def __init__(self, ws, rest, stream=""):
            self.ws, self.rest, self.stream = ws, rest, stream

    urls = {"binance": U("ws://h/binance/ws", "http://h/binance", "ws://h/binance/stream"),
            "kraken": U("ws://h/kraken/v2", "http://h/kraken")}
    v = simulator_venues(urls)
    assert v.endpoints["binance"].ws == "ws://h/binance/stream" == v.endpoints["simulator"].ws
    assert isinstance(v.adapter("simulator"), BinanceAdapter)  # the simulator speaks Binance's protocol
    assert v.endpoints["kraken"].ws == "ws://h/kraken/v2"
    assert v.endpoints["binance"].rest == "http://h/binance" == v.endpoints["simulator"].rest
    assert v.endpoints["kraken"].rest == "http://h/kraken" and v.adapter("kraken").name == "kraken"


@pytest.mark.django_db(transaction=True)
async def test_a_bot_on_an_exchange_the_engine_does_not_serve_goes_to_error_and_sends_nothing(
        sim, make_bot, alice):
    from asgiref.sync import sync_to_async

    from bots.engine_host import EngineHost, Venues
    from bots.models import Bot, Order
    from marketdata.exchanges.base import Endpoint

    from .conftest import FAST

    bot = await sync_to_async(make_bot)(alice, status="running")  # on the simulator exchange
    only_kraken = Venues(endpoints={"kraken": Endpoint(sim.urls["kraken"].ws, sim.urls["kraken"].rest)})
    host = EngineHost(only_kraken, config=FAST)  # as under real feeds: no simulator there
    await host.start()
    try:
        assert bot.id not in host.engine.bots
        row = await sync_to_async(Bot.objects.get)(pk=bot.id)
        assert row.status == "error" and "not served by this engine" in row.status_reason
        assert not await sync_to_async(Order.objects.filter(bot=bot).exists)()
    finally:
        await host.stop()


@pytest.mark.django_db
def test_on_the_fan_out_in_simulator_mode_only_an_exchange_rows_own_rest_is_kept(catalogue, settings):
    from bots.engine_host import fanout_venues

    settings.MARKET_DATA_SOURCE = "simulator"
    Exchange.objects.filter(code="coinbase").update(rest_url="http://127.0.0.1:9/coinbase")
    v = fanout_venues()
    assert v.endpoints["kraken"].rest == "" and v.endpoints["binance"].rest == ""  # never the real venues
    assert v.endpoints["coinbase"].rest == "http://127.0.0.1:9/coinbase"
    settings.MARKET_DATA_SOURCE = "live"
    assert fanout_venues().endpoints["kraken"].rest == "https://api.kraken.com"


@pytest.mark.django_db(transaction=True)
async def test_a_live_bot_on_a_venue_with_no_order_api_here_goes_to_error_and_calls_no_venue(sim, make_bot, alice):
    """Seen with the Procfile in simulator mode (``runengine --feeds redis``): the fan-out's venues have
    market data but no REST, and the live broker took the empty endpoint for the venue's real one: the
    demo's live bots sent signed orders to api.kraken.com and friends."""
    from asgiref.sync import sync_to_async

    from bots.engine_host import EngineHost, Venues
    from bots.models import Bot, ExchangeAccount, Order
    from marketdata.exchanges.base import Endpoint

    from .conftest import FAST

    def live_bot():
        account = ExchangeAccount.objects.create(owner=alice, exchange=Exchange.objects.get(code="kraken"),
                                                 label="kraken", api_key="k", api_secret="c2VjcmV0")
        return make_bot(alice, exchange="kraken", symbol="BTC/USD", status="running", mode="live",
                        live_confirmed=True, account=account)

    bot = await sync_to_async(live_bot)()
    market_data_only = Venues(endpoints={"kraken": Endpoint(sim.urls["kraken"].ws, "")})
    host = EngineHost(market_data_only, config=FAST)
    await host.start()
    try:
        assert bot.id not in host.engine.bots and not host.live.accounts
        row = await sync_to_async(Bot.objects.get)(pk=bot.id)
        assert row.status == "error" and "kraken has no order API here" in row.status_reason
        assert not await sync_to_async(Order.objects.filter(bot=bot).exists)()
    finally:
        await host.stop()
