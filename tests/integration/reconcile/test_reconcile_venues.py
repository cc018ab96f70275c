"""Reconciliation on Coinbase and Kraken (Binance has its own file): the venue's answer decides, read
through that venue's trading client against the simulator's signed REST."""

from __future__ import annotations

import asyncio
import base64
import secrets
from decimal import Decimal

import pytest

from bots.models import Fill, Order
from bots.services.reconcile import reconcile_orders
from marketdata.exchanges.base import Credentials, OrderRequest
from marketdata.exchanges.registry import get_adapter
from marketdata.simulator import SimulatorThread
from marketdata.simulator.coinbase_auth import generate_key

from .conftest import write_order

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]
D = Decimal


@pytest.fixture(scope="module")
def venues_sim():
    with SimulatorThread(seed=13, update_interval=3600, venues=("coinbase", "kraken")) as sim:
        sim.pause()
        for venue in ("coinbase", "kraken"):
            sim.set_price(venue, "BTC/USD", "60000")
        yield sim


@pytest.fixture(params=["coinbase", "kraken"])
def venue_bot(request, venues_sim, alice, make_bot):
    from bots.models import ExchangeAccount
    from marketdata.models import Exchange

    venue = request.param
    if venue == "coinbase":
        key, secret = generate_key()
    else:
        key, secret = f"kr-{secrets.token_hex(4)}", base64.b64encode(secrets.token_bytes(32)).decode()
    getattr(venues_sim, venue).add_account(key, secret, {"USD": "100000", "BTC": "1"})
    Exchange.objects.filter(code=venue).update(rest_url=venues_sim.urls[venue].rest)
    account = ExchangeAccount.objects.create(owner=alice, exchange=Exchange.objects.get(code=venue),
                                             label=f"{venue} {key[-6:]}", api_key=key, api_secret=secret)
    bot = make_bot(alice, exchange=venue, symbol="BTC/USD", mode="live", account=account, live_confirmed=True,
                   status="running")
    bot.venue_sim = venues_sim
    return bot


def place(bot, coid: str, side: str, kind: str, qty: str, price: str | None = None):
    """Place an order on the venue as the engine's request would have (its own trading client)."""
    account = bot.account
    client = get_adapter(bot.exchange.protocol).trading_client(
        bot.exchange.rest_url, Credentials(account.api_key, account.api_secret))

    async def go():
        try:
            return await client.place(OrderRequest("BTC/USD", coid, side, kind, D(qty), D(price) if price else None))
        finally:
            await client.close()

    return asyncio.run(go())


def coid() -> str:
    return f"bp-{secrets.token_hex(12)}"


def test_an_order_that_never_reached_the_venue_expires_on_its_definite_absence(venue_bot):
    order = write_order(venue_bot, coid())

    reconcile_orders()

    order.refresh_from_db()
    assert order.status == "expired" and order.closed_at is not None


def test_an_order_accepted_but_never_acknowledged_becomes_open_with_its_exchange_id(venue_bot):
    ours = coid()
    order = write_order(venue_bot, ours, price="50000")
    placed = place(venue_bot, ours, "buy", "limit", "0.01", "50000")

    reconcile_orders()

    order.refresh_from_db()
    assert (order.status, order.exchange_order_id) == ("open", placed.exchange_order_id)


def test_a_fill_missed_while_the_engine_was_down_is_recorded_once(venue_bot):
    ours = coid()
    order = write_order(venue_bot, ours, type="market", price=None, status="submitted")
    placed = place(venue_bot, ours, "buy", "market", "0.01")

    reconcile_orders()
    second = reconcile_orders()

    order.refresh_from_db()
    assert order.status == "filled" and order.filled_quantity == D("0.01")
    fills = list(Fill.objects.filter(order=order))
    assert {f.trade_id for f in fills} == {t.trade_id for t in placed.trades}
    assert second.changed == 0


def test_a_rate_limited_venue_leaves_an_unknown_order_unknown(venue_bot, settings):
    settings.RECONCILE_RETRY_DELAY_SECONDS = 0.01
    order = write_order(venue_bot, coid(), status="unknown")
    getattr(venue_bot.venue_sim, venue_bot.exchange.code).rate_limit_next(count=50, api_key=venue_bot.account.api_key)

    reconcile_orders()

    getattr(venue_bot.venue_sim, venue_bot.exchange.code).rate_limit_next(count=0, api_key=venue_bot.account.api_key)
    assert Order.objects.get(pk=order.pk).status == "unknown"
