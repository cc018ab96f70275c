"""The engine applies the statuses saved in the database (what control messages lost in a Redis
outage asked for) when its channel layer comes back; a control message the layer refuses is recorded
in the bot's log and does not fail the request. The drill with real processes is
tests/integration/drills/test_redis_restart.py."""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.layers import channel_layers

from bots import services
from bots.models import Bot, BotEvent

from .conftest import read, until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}


def bot_in(make_bot, owner, status, name):
    return make_bot(owner, name=name, status=status, params=TICK, capital=Decimal("10000"),
                    order_size=Decimal("1000"))


async def test_saved_statuses_are_applied_to_hosted_and_unhosted_bots(sim, make_host, make_bot, alice):
    stays, stops, pauses = [await read(bot_in, make_bot, alice, "running", n) for n in ("a", "b", "c")]
    host = await make_host()
    await host.store.flush()  # the engine's own "running" writes land first
    starts = await read(bot_in, make_bot, alice, "stopped", "d")
    await read(Bot.objects.filter(pk=stops.id).update, status="stopped")
    await read(Bot.objects.filter(pk=pauses.id).update, status="paused")
    await read(Bot.objects.filter(pk=starts.id).update, status="starting")
    assert await host.apply_desired_statuses() == 3
    assert stops.id not in host.engine.bots
    assert host.engine.bots[pauses.id].status == "paused"
    assert host.engine.bots[starts.id].status == "running"
    assert host.engine.bots[stays.id].status == "running"
    await until(lambda: Bot.objects.get(pk=starts.id).status == "running")
    assert await host.apply_desired_statuses() == 0  # idempotent


async def test_hosted_bots_edited_during_the_outage_are_reloaded(sim, make_host, make_bot, alice):
    from django.utils import timezone

    bot = await read(bot_in, make_bot, alice, "running", "a")
    host = await make_host()
    await host.store.flush()
    lost_at = timezone.now()
    await read(Bot.objects.filter(pk=bot.id).update, order_size=Decimal("250"), updated_at=timezone.now())
    assert await host.apply_desired_statuses(lost_at) == 1  # its "reload" message was lost
    assert host.engine.bots[bot.id].spec.risk.order_size == Decimal("250")


async def test_account_limits_changed_while_the_layer_was_down_are_taken_again(sim, make_host, make_bot, alice):
    from bots.models import UserLimits

    await read(bot_in, make_bot, alice, "running", "a")
    host = await make_host()
    assert host.engine.owners.limits[alice.id].max_open_orders is None
    await read(UserLimits.objects.create, user=alice, max_open_orders=3)  # its "limits" message was lost
    await host.apply_desired_statuses()
    assert host.engine.owners.limits[alice.id].max_open_orders == 3


class _DeadLayer:
    async def send(self, channel, message):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")

    async def group_send(self, group, message):
        raise ConnectionError("Connection refused.")


def test_a_control_message_the_layer_refuses_is_recorded_and_the_request_still_commits(make_bot, alice):
    bot = bot_in(make_bot, alice, "running", "a")
    real = channel_layers.backends.get("default")
    channel_layers.backends["default"] = _DeadLayer()  # Redis down: the one thing that cannot run here
    try:
        services.pause_bot(bot, actor="alice")
    finally:
        channel_layers.backends["default"] = real
    assert Bot.objects.get(pk=bot.id).status == "paused"
    event = BotEvent.objects.get(bot=bot, kind="control")
    assert "pause not delivered" in event.message and "ConnectionError" in event.message
