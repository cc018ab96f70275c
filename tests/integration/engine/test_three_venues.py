"""A paper and a live bot trade on each of the three venues through the engine host, against the
simulator's feeds and its signed REST of that venue."""

from __future__ import annotations

import base64
import secrets
from decimal import Decimal

import pytest

from bots.models import Bot, ExchangeAccount, Fill, Order
from marketdata.simulator.coinbase_auth import generate_key

from .conftest import path, read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]
D = Decimal
CROSS_UP = ["60000", "59900", "59800", "59700", "60100"]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
# (exchange code, simulator venue, symbol, quote)
VENUES = [("simulator", "binance", "BTC/USDT", "USDT"), ("coinbase", "coinbase", "BTC/USD", "USD"),
          ("kraken", "kraken", "BTC/USD", "USD")]


def keys(venue: str) -> tuple[str, str]:
    if venue == "coinbase":
        return generate_key()
    if venue == "kraken":
        return f"kr-{secrets.token_hex(4)}", base64.b64encode(secrets.token_bytes(32)).decode()
    return f"bn-{secrets.token_hex(4)}", secrets.token_hex(16)


def bots_on(make_bot, owner, sim, code, venue, symbol, quote, fees):
    from marketdata.models import Exchange

    key, secret = keys(venue)
    getattr(sim, venue).add_account(key, secret, {quote: "50000", "BTC": "0"}, maker_fee=fees[0], taker_fee=fees[1])
    account = ExchangeAccount.objects.create(owner=owner, exchange=Exchange.objects.get(code=code),
                                             label=f"sim {venue}", api_key=key, api_secret=secret)
    common = {"exchange": code, "symbol": symbol, "status": "running", "params": TICK, "capital": D("10000"),
              "order_size": D("1000")}
    live = make_bot(owner, name=f"live {venue}", mode="live", live_confirmed=True, account=account, **common)
    paper = make_bot(owner, name=f"paper {venue}", **common)
    return live, paper, key


def filled_buy(bot_id):
    return Order.objects.filter(bot_id=bot_id, status="filled", side="buy").first()


@pytest.mark.parametrize(("code", "venue", "symbol", "quote"), VENUES, ids=[v[1] for v in VENUES])
async def test_a_paper_and_a_live_bot_trade_on_the_venue(sim, make_host, make_bot, alice, code, venue, symbol, quote):
    fees = (D("0.0012"), D("0.0034"))
    live, paper, key = await read(bots_on, make_bot, alice, sim, code, venue, symbol, quote, fees)
    host = await make_host()
    assert host.live.brokers[live.account_id].taker_fee(code) == fees[1]  # the account's own rate
    await path(sim, venue, symbol, CROSS_UP)

    bought = await until(lambda: filled_buy(live.id), timeout=20)
    assert not bought.is_paper and bought.exchange_order_id
    [on_venue] = getattr(sim, venue).trading.accounts[key].orders.values()
    assert on_venue.executed_qty == bought.quantity  # the venue filled what we stored, once
    fills = await read(lambda: list(Fill.objects.filter(order=bought)))
    assert fills and sum(f.quantity for f in fills) == bought.quantity

    paper_buy = await until(lambda: filled_buy(paper.id), timeout=20)
    assert paper_buy.is_paper
    paper_fill = await read(Fill.objects.get, order=paper_buy)
    assert paper_fill.trade_id == f"pt-{paper_buy.client_order_id}"
    assert (await read(Bot.objects.get, pk=live.id)).status == "running"
