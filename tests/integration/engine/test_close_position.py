"""A stopped bot that still holds coins: the portal's "Close position" asks the engine to host it
paused and sell the whole position at market through the usual order path."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bots import services
from bots.models import Bot, Order, Position

from .conftest import path, read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]
D = Decimal
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}


async def test_closing_a_stopped_bots_position_sells_it_and_leaves_the_bot_paused(sim, make_host, make_bot, alice):
    bot = await read(make_bot, alice, params=TICK, capital=D("10000"), order_size=D("1000"), status="running")
    host = await make_host()
    listener = asyncio.create_task(host.listen())
    try:
        await path(sim, "binance", "BTC/USDT", ["60000", "59900", "59800", "59700", "60100"], pause=0.15)
        await until(lambda: Position.objects.filter(bot_id=bot.id, quantity__gt=0).open().exists())
        await read(services.stop_bot, bot, actor="alice")
        await until(lambda: bot.id not in host.engine.bots)
        bot = await read(Bot.objects.get, pk=bot.id)
        await read(services.close_position, bot, actor="alice")
        await until(lambda: bot.id in host.engine.bots)
        await path(sim, "binance", "BTC/USDT", ["60150", "60160"], pause=0.2)
        await until(lambda: not Position.objects.filter(bot_id=bot.id, quantity__gt=0).open().exists())
        sell = await read(lambda: Order.objects.filter(bot_id=bot.id, side="sell").latest("id"))
        assert (sell.status, sell.reason) == ("filled", "exit")
        assert (await read(Bot.objects.get, pk=bot.id)).status == "paused"
        with pytest.raises(ValueError, match="stopped bot"):
            await read(services.close_position, await read(Bot.objects.get, pk=bot.id), actor="alice")
    finally:
        listener.cancel()


async def test_a_close_whose_message_is_missed_is_done_from_the_row_when_the_bot_is_taken_up(
        sim, make_host, make_bot, alice):
    # A leased worker drops a "close" for a bot it does not host yet (its round claims the bot later),
    # and a stale-request check would ignore it after the load: the saved status is the request.
    bot = await read(make_bot, alice, params=TICK, capital=D("10000"), order_size=D("1000"), status="running")
    host = await make_host()
    await path(sim, "binance", "BTC/USDT", ["60000", "59900", "59800", "59700", "60100"], pause=0.15)
    await until(lambda: Position.objects.filter(bot_id=bot.id, quantity__gt=0).open().exists())
    await host.engine.stop_bot(bot.id, "Stopped by request")
    await read(Bot.objects.filter(pk=bot.id).update, status="stopped")
    bot = await read(Bot.objects.get, pk=bot.id)
    await read(services.close_position, bot, actor="alice")  # no listener: the message goes nowhere
    assert await host.start_bot(bot.id)  # what a worker's round does once it claims the bot
    await path(sim, "binance", "BTC/USDT", ["60150", "60160"], pause=0.2)
    await until(lambda: not Position.objects.filter(bot_id=bot.id, quantity__gt=0).open().exists())
    sell = await read(lambda: Order.objects.filter(bot_id=bot.id, side="sell").latest("id"))
    assert (sell.status, sell.reason) == ("filled", "exit")
