"""Limits per user reach the running engine through the control channel and hold across bots."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bots import services
from bots.models import Bot, BotEvent, Order
from bots.services.limits import set_user_limits

from .conftest import path, read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]
D = Decimal
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
CROSS_UP = ["100", "99", "98", "97", "101"]


async def test_a_limit_saved_while_bots_run_refuses_the_entry_that_would_pass_it(sim, make_host, make_bot, alice):
    btc = await read(make_bot, alice, symbol="BTC/USDT", name="btc", params=TICK, capital=D("10000"),
                     order_size=D("1000"))
    eth = await read(make_bot, alice, symbol="ETH/USDT", name="eth", params=TICK, capital=D("10000"),
                     order_size=D("1000"))
    host = await make_host()
    listener = asyncio.create_task(host.listen())
    try:
        for bot in (btc, eth):
            await read(services.start_bot, bot, actor="alice")
        await until(lambda: Bot.objects.filter(owner=alice, status="running").count() == 2)
        await read(set_user_limits, alice, max_exposure=D("1500"), max_daily_loss=None, max_open_orders=None)
        await until(lambda: host.engine.owners.limits.get(alice.id) is not None
                    and host.engine.owners.limits[alice.id].max_exposure == D("1500"))
        await path(sim, "binance", "BTC/USDT", CROSS_UP)
        await until(lambda: Order.objects.filter(bot=btc, status="filled").exists())
        await path(sim, "binance", "ETH/USDT", CROSS_UP)

        def refused() -> bool:
            return any("account_exposure" in (e.data.get("codes") or [])
                       for e in BotEvent.objects.filter(bot=eth, kind="risk"))

        await until(refused)
        assert not await read(Order.objects.filter(bot=eth).exists)
    finally:
        listener.cancel()
