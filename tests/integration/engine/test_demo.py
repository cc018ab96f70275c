"""`make run`'s demo: one live bot per venue on simulator keys (clearly marked), registered on the
engine's simulator at start, each trading there."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.engine_host import register_accounts_on
from bots.models import Bot, Order
from bots.services.demo import SIMULATOR_KEYS, create_demo_data

from .conftest import path, read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


def venue_of(bot: Bot) -> str:
    return bot.exchange.protocol


async def test_the_demo_has_one_marked_live_bot_per_venue_each_trading_on_the_simulator(sim, make_host):
    await read(create_demo_data)
    live = await read(lambda: list(Bot.objects.filter(mode="live").select_related("exchange", "market",
                                                                                    "account")))
    assert sorted(venue_of(b) for b in live) == ["binance", "coinbase", "kraken"]
    assert all(b.name.startswith("LIVE on the simulator") and b.account.label.startswith(SIMULATOR_KEYS)
               and b.account.can_withdraw is False for b in live)
    await read(Bot.objects.filter(mode="paper").update, status="stopped")  # only the live ones here

    assert await register_accounts_on(sim) == 3
    assert await register_accounts_on(sim) == 0  # a restart registers nothing twice
    host = await make_host()
    for bot in live:
        assert host.live.brokers[bot.account_id].fee_rates  # the account's own fees came from the simulator
        base = sim.price(venue_of(bot), bot.market.symbol)
        prices = [str((base * (1 - Decimal("0.001") * i)).quantize(Decimal("0.1"))) for i in range(14)]
        await path(sim, venue_of(bot), bot.market.symbol, [*prices, str((base * Decimal("1.02")).quantize(1))])
    for bot in live:
        order = await until(lambda b=bot: Order.objects.filter(bot_id=b.id, status="filled").first(), timeout=20)
        assert not order.is_paper
