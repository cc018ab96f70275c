"""Scheduled jobs: the heartbeat watchdog, the daily P&L snapshot, pruning and the catalogue refresh."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from bots import events
from bots.models import Bot, BotEvent, DailyPnlSnapshot, OrderEvent, Position
from bots.services import jobs
from marketdata.models import Exchange, Market

from .conftest import write_order

pytestmark = pytest.mark.django_db


def listen(*groups: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    for group in groups:
        async_to_sync(layer.group_add)(group, channel)
    return channel


def received(channel: str, timeout: float = 0.5) -> list[dict]:
    layer = get_channel_layer()

    async def drain() -> list[dict]:
        out = []
        while True:
            try:
                out.append(await asyncio.wait_for(layer.receive(channel), timeout))
            except TimeoutError:
                return out
    return async_to_sync(drain)()


def running(make_bot, owner, name, beat_ago: float | None, status: str = "running") -> Bot:
    beat = None if beat_ago is None else timezone.now() - timedelta(seconds=beat_ago)
    return make_bot(owner, name=name, status=status, heartbeat_at=beat)


def test_watchdog_puts_a_running_bot_with_a_stale_heartbeat_in_error_and_tells_only_its_owner(
        make_bot, alice, bob, django_capture_on_commit_callbacks):
    stale = running(make_bot, alice, "stale", 300)
    fresh = running(make_bot, alice, "fresh", 5)
    paused = running(make_bot, bob, "bob paused", 300, status="paused")
    mine, theirs = listen(events.user_group(alice.id)), listen(events.user_group(bob.id))

    with django_capture_on_commit_callbacks(execute=True):
        marked = jobs.mark_stale_bots(stale_after=60)

    assert marked == [stale.id]
    stale.refresh_from_db()
    assert stale.status == "error" and "No heartbeat" in stale.status_reason
    assert Bot.objects.get(pk=fresh.pk).status == "running"
    assert Bot.objects.get(pk=paused.pk).status == "paused"
    assert BotEvent.objects.filter(bot=stale, kind="status", data__actor="watchdog").count() == 1
    pushed = received(mine)
    assert any(m.get("type") == "bot.status" and m.get("status") == "error" and m.get("bot_id") == stale.id
               for m in pushed)
    assert received(theirs, 0.2) == []


def test_watchdog_run_twice_marks_a_bot_once(make_bot, alice):
    running(make_bot, alice, "stale", 300)
    assert len(jobs.mark_stale_bots(stale_after=60)) == 1
    assert jobs.mark_stale_bots(stale_after=60) == []


def test_daily_pnl_snapshot_records_realised_unrealised_and_equity_once_per_bot_and_day(make_bot, alice):
    bot = make_bot(alice, capital=Decimal("1000"))
    now = timezone.now()
    Position.objects.create(bot=bot, market=bot.market, quantity=0, realized_pnl=Decimal("10.5"),
                            opened_at=now - timedelta(days=1), closed_at=now - timedelta(hours=1))
    Position.objects.create(bot=bot, market=bot.market, quantity=Decimal("0.1"), average_entry=Decimal("50000"),
                            realized_pnl=Decimal("-0.5"), opened_at=now)
    day = date(2026, 3, 1)

    jobs.snapshot_daily_pnl(day, prices=lambda bots: {bot.id: Decimal("51000")})
    jobs.snapshot_daily_pnl(day, prices=lambda bots: {bot.id: Decimal("52000")})

    snap = DailyPnlSnapshot.objects.get(bot=bot)
    assert snap.date == day
    assert snap.realized == Decimal("10.0")
    assert snap.unrealized == Decimal("200.0")
    assert snap.equity == Decimal("1210.0")
    assert snap.mark_price == Decimal("52000")
    assert list(DailyPnlSnapshot.objects.for_user(alice)) == [snap]


def test_daily_pnl_snapshot_marks_to_the_last_fill_when_no_price_was_published(make_bot, alice, live_bot, sim):
    from bots.services.reconcile import reconcile_orders

    bot = live_bot()
    write_order(bot, "bp-mark", type="market", price=None, status="submitted")
    sim.place(bot.account.api_key, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
              newClientOrderId="bp-mark")
    reconcile_orders()

    jobs.snapshot_daily_pnl()

    snap = DailyPnlSnapshot.objects.get(bot=bot)
    assert snap.date == timezone.now().date()
    assert snap.mark_price == bot.orders.get().average_fill_price
    assert snap.unrealized == 0


def test_pruning_deletes_old_events_but_keeps_recent_ones_and_the_log_of_open_orders(make_bot, alice):
    bot = make_bot(alice)
    old = timezone.now() - timedelta(days=40)
    BotEvent.objects.bulk_create([BotEvent(bot=bot, kind="signal", message=str(i)) for i in range(3)])
    BotEvent.objects.update(time=old)
    recent = BotEvent.objects.create(bot=bot, kind="signal", message="recent")
    done = write_order(bot, "bp-done", status="filled")
    still_open = write_order(bot, "bp-open", status="open")
    for order in (done, still_open):
        OrderEvent.objects.create(order=order, status=order.status)
    OrderEvent.objects.update(time=old)

    counts = jobs.prune_events(keep_days=30)

    assert counts == {"bot_events": 3, "order_events": 1}
    assert list(BotEvent.objects.all()) == [recent]
    assert list(OrderEvent.objects.values_list("order_id", flat=True)) == [still_open.id]
    assert jobs.prune_events(keep_days=30) == {"bot_events": 0, "order_events": 0}


def test_catalogue_refresh_takes_the_venues_trading_rules_and_survives_a_venue_that_is_down(catalogue, sim):
    Exchange.objects.filter(code="simulator").update(rest_url=sim.rest)
    Exchange.objects.filter(code="binance").update(rest_url="http://127.0.0.1:9/binance")  # nothing listens there
    Market.objects.filter(exchange__code="simulator", symbol="BTC/USDT").update(
        min_notional=Decimal("7"), price_tick=Decimal("0.1"))
    Market.objects.filter(exchange__code="binance", symbol="BTC/USDT").update(min_notional=Decimal("7"))

    first = jobs.refresh_market_catalogue()
    second = jobs.refresh_market_catalogue()

    market = Market.objects.get(exchange__code="simulator", symbol="BTC/USDT")
    assert (market.min_notional, market.price_tick) == (Decimal("5"), Decimal("0.01"))  # the venue's filters
    assert first == {"updated": 1, "added": 0, "failed": 1}
    assert second == {"updated": 0, "added": 0, "failed": 1}
    assert Market.objects.get(exchange__code="binance", symbol="BTC/USDT").min_notional == Decimal("7")
