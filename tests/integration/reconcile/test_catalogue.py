"""The market catalogue comes from each venue's public market list with its rules (Binance
exchangeInfo, Coinbase products, Kraken AssetPairs), as the simulator serves them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketdata.models import Exchange, Market
from marketdata.services import refresh_market_catalogue
from marketdata.simulator import SimulatorThread

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def all_venues():
    with SimulatorThread(seed=23, update_interval=3600) as sim:
        yield sim


@pytest.mark.parametrize(("code", "venue", "symbol"), [
    ("simulator", "binance", "BTC/USDT"), ("coinbase", "coinbase", "BTC/USD"), ("kraken", "kraken", "ETH/USD")])
def test_each_venues_market_list_sets_the_rules_of_its_markets(catalogue, all_venues, code, venue, symbol):
    Exchange.objects.filter(code=code).update(rest_url=all_venues.urls[venue].rest)
    Market.objects.filter(exchange__code=code, symbol=symbol).update(price_tick=Decimal("7"), active=False)

    first = refresh_market_catalogue()
    second = refresh_market_catalogue()

    market = Market.objects.get(exchange__code=code, symbol=symbol)
    spec = all_venues.market(venue, symbol).spec
    assert market.price_tick == spec.tick and market.active
    assert market.quantity_step > 0 and market.min_notional >= 0
    assert first["updated"] >= 1 and first["failed"] == 0
    assert second["updated"] == 0 and second["added"] == 0  # idempotent


def test_a_venue_that_does_not_answer_keeps_its_rules_and_the_others_are_refreshed(catalogue, all_venues):
    Exchange.objects.filter(code="kraken").update(rest_url="http://127.0.0.1:9/kraken")  # nothing listens there
    Exchange.objects.filter(code="coinbase").update(rest_url=all_venues.urls["coinbase"].rest)
    Market.objects.filter(exchange__code="kraken").update(min_notional=Decimal("9"))
    Market.objects.filter(exchange__code="coinbase", symbol="BTC/USD").update(min_notional=Decimal("9"))

    report = refresh_market_catalogue()

    assert report["failed"] == 1
    assert set(Market.objects.filter(exchange__code="kraken").values_list("min_notional", flat=True)) == {Decimal(9)}
    assert Market.objects.get(exchange__code="coinbase", symbol="BTC/USD").min_notional != Decimal("9")
