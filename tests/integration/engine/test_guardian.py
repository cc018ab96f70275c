"""The guardian keeps a live position protected with the engine gone, on each simulated venue: it
re-places a stop deleted behind our back, replaces a stale one, cancels an orphan, leaves the right
one alone, and over minutes of the engine's absence (the simulated clock) the position stays protected
until the venue's stop closes it; reconciliation records that fill. Each thing it did is an event in
the bot's log and a notification to its owner."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from bots import tasks
from bots.engine.types import PROTECTIVE_STOP
from bots.models import Bot, BotEvent, Notification, NotificationSettings, Order, Position
from bots.services.guardian import guard_positions
from bots.services.reconcile import reconcile_orders

from .conftest import read, stop_host, until
from .test_protective_engine import VENUES, held, host_on, open_position, opened, venue_sells, venue_stops  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]
D = Decimal


def later(minutes: float):
    """The guardian's view of the clock: the engine's last heartbeat is ``minutes`` old."""
    return timezone.now() + timedelta(minutes=minutes)


def guard(bot_id: int, minutes: float = 1):
    return guard_positions(bot_ids=[bot_id], now=later(minutes))


def events(bot_id: int) -> list[str]:
    rows = BotEvent.objects.filter(bot_id=bot_id, kind="guardian").order_by("id")
    return list(rows.values_list("message", flat=True))


@pytest.fixture
def guardian_notifications(alice, monkeypatch):
    """Alice asked to hear what the guardian does (delivery is the notifications tests' business)."""
    from bots.services import notifications

    monkeypatch.setattr(notifications, "_enqueue", lambda pk: None)
    NotificationSettings.objects.create(owner=alice, kinds=["guardian"], email="alice@example.invalid")


def notified(bot_id: int) -> list[str]:
    rows = Notification.objects.filter(bot_id=bot_id, kind="guardian").order_by("id")
    return list(rows.values_list("title", flat=True))


def raise_trailing_high(bot_id: int, high: str) -> None:
    """The engine saved a higher trailing high, then died before it moved its stop."""
    Position.objects.filter(bot_id=bot_id, closed_at__isnull=True).update(highest_price=D(high))


def forget_row(client_order_id: str) -> None:
    """Our row has said the stop is over for a minute while the venue still has it: an orphan nobody
    manages."""
    Order.objects.filter(client_order_id=client_order_id).update(status="canceled",
                                                                 updated_at=timezone.now() - timedelta(minutes=1))


@pytest.mark.parametrize(("code", "venue", "symbol", "quote"), VENUES, ids=[v[1] for v in VENUES])
async def test_the_guardian_keeps_exactly_one_stop_at_the_right_price_while_the_engine_is_gone(
        sim, host_on, make_bot, alice, guardian_notifications, code, venue, symbol, quote):  # noqa: F811
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote,
                                  stop_loss_pct=D("2"), trailing_stop_pct=D("1"))
    [first] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    await until(lambda: Order.objects.filter(bot_id=bot.id, reason=PROTECTIVE_STOP, status="open").exists(),
                timeout=20)
    await stop_host(host)
    position = await read(open_position, bot.id)
    engines = getattr(sim, venue).trading

    report = await read(guard, bot.id)  # the right stop is there: nothing to do
    assert (report.placed, report.replaced, report.cancelled) == (0, 0, 0)

    engines.cancel(first)  # deleted behind our back
    report = await read(guard, bot.id)
    assert report.placed == 1
    [again] = venue_stops(sim, venue, key)
    assert (again.stop_price, again.orig_qty) == (first.stop_price, held(position, venue))
    assert await read(lambda: Order.objects.get(reason=PROTECTIVE_STOP, status="canceled",
                                                bot_id=bot.id).filled_quantity) == 0  # reconciled first

    await sim.set_price(venue, symbol, "61000")
    await read(raise_trailing_high, bot.id, "61000")  # stale: the level is now 61000 * 0.99
    report = await read(guard, bot.id, 2)
    assert report.replaced == 1
    [moved] = venue_stops(sim, venue, key)
    assert moved.stop_price == D("60390") and again.status == "CANCELED"

    row = await read(Order.objects.get, bot_id=bot.id, reason=PROTECTIVE_STOP, status="open")
    await read(forget_row, row.client_order_id)  # an orphan: its row is over, the venue still has it
    await read(lambda: Bot.objects.filter(pk=bot.id).update(heartbeat_at=later(-5)))  # the engine died 5 min ago
    report = await read(lambda: tasks.guard_positions.apply().get())  # the beat task: one service call
    assert report["cancelled"] == 1 and report["placed"] == 1, str(report)
    [fresh] = venue_stops(sim, venue, key)
    assert fresh is not moved and moved.status == "CANCELED" and fresh.stop_price == D("60390")

    for minutes in (3, 6, 9):  # minutes without the engine: the stop stays, nothing is added
        await sim.set_price(venue, symbol, "60800")
        report = await read(guard, bot.id, minutes)
        assert (report.placed, report.replaced, report.cancelled) == (0, 0, 0)
        assert venue_stops(sim, venue, key) == [fresh]

    await sim.set_price(venue, symbol, "60300")  # the fall: the venue's stop closes the position
    assert venue_stops(sim, venue, key) == [] and venue_sells(sim, venue, key) == held(position, venue)
    await read(guard, bot.id, 12)  # the guardian's reconciliation records the stop's fill
    assert await read(open_position, bot.id) is None
    assert await read(lambda: Order.objects.filter(bot_id=bot.id, reason=PROTECTIVE_STOP, status="filled")
                      .count()) == 1
    assert venue_stops(sim, venue, key) == []  # nothing placed for a closed position
    assert (await read(reconcile_orders, bot_ids=[bot.id])).fills == 0  # recorded once
    logged = await read(events, bot.id)
    assert [m.split(" protective")[0] for m in logged] == [
        "Placed a missing", "Replaced a stale", "Cancelled an orphan", "Placed a missing"]
    titles = await read(notified, bot.id)  # each one told to the owner too
    assert [t.split(": ", 1)[1] for t in titles] == [m[0].lower() + m[1:] for m in logged]


async def test_the_guardian_leaves_an_alive_engines_stop_alone(sim, host_on, make_bot, alice):  # noqa: F811
    code, venue, symbol, quote = VENUES[0]
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote, stop_loss_pct=D("2"))
    [stop] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    await read(lambda: Position.objects.filter(bot_id=bot.id, closed_at__isnull=True).update(
        stop_loss_price=D("59900")))  # even a level it disagrees with: the engine owns its live stop
    report = await read(guard_positions, bot_ids=[bot.id])
    assert (report.placed, report.replaced, report.cancelled) == (0, 0, 0)
    assert venue_stops(sim, venue, key) == [stop]


async def test_a_stop_the_engine_cancels_while_the_guardian_lists_the_venue_is_no_orphan(
        sim, host_on, make_bot, alice, guardian_notifications, monkeypatch):  # noqa: F811
    """Seen under ``make run``: the engine moved its stop (cancel, then place) between the guardian's
    listing of the venue and its read of the rows. The listed stop's row was already final, so it was
    taken for an orphan: a second cancel, a "Cancelled an orphan" event and a notification, each false."""
    from bots.services import guardian

    code, venue, symbol, quote = VENUES[0]
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote, stop_loss_pct=D("2"))
    [stop] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    row = await until(lambda: Order.objects.filter(bot_id=bot.id, reason=PROTECTIVE_STOP, status="open").first(),
                      timeout=20)
    await stop_host(host)  # its heartbeat is fresh: to the guardian the engine is alive
    listing = guardian._our_stops

    def settle() -> None:  # the row follows the venue's answer, as the engine's update_order writes it
        Order.objects.filter(pk=row.pk).update(status="canceled", updated_at=timezone.now(), closed_at=timezone.now())

    async def the_engine_cancels_meanwhile(client, *args):
        listed = await listing(client, *args)
        getattr(sim, venue).trading.cancel(stop)
        writer = threading.Thread(target=settle)  # the engine's own write, from another thread
        writer.start()
        writer.join()
        return listed

    monkeypatch.setattr(guardian, "_our_stops", the_engine_cancels_meanwhile)
    report = await read(guard_positions, bot_ids=[bot.id])
    assert (report.cancelled, report.errors) == (0, []), report
    assert await read(events, bot.id) == [] and await read(notified, bot.id) == []
    assert await read(lambda: Order.objects.get(pk=row.pk).last_error) == ""  # not "cancelled by the guardian"

    monkeypatch.setattr(guardian, "_our_stops", listing)  # the next look: the venue no longer has it
    report = await read(guard_positions, bot_ids=[bot.id], now=later(2))
    assert report.cancelled == 0 and report.errors == [], report


async def test_under_the_single_process_run_the_guardian_protects_a_kraken_position_on_the_simulator(
        sim, host_on, make_bot, alice, guardian_notifications):  # noqa: F811
    """``make run``: the engine trades on its own simulator, which the exchange rows do not name (no REST
    URL, simulator market data). The embedded schedule's guardian calls the venue where the engine
    trades on it; a Celery guardian in another process, which cannot reach that simulator, says so."""
    from bots.engine_host import simulator_venues
    from bots.platform import embedded_jobs
    from marketdata.models import Exchange

    code, venue, symbol, quote = VENUES[2]
    assert venue == "kraken"
    bot, key, host = await opened(sim, host_on, make_bot, alice, code, venue, symbol, quote, stop_loss_pct=D("2"))
    await read(lambda: Exchange.objects.filter(code=code).update(rest_url=""))  # as the demo leaves it
    [first] = await until(lambda: venue_stops(sim, venue, key), timeout=40)
    await until(lambda: Order.objects.filter(bot_id=bot.id, reason=PROTECTIVE_STOP, status="open").exists(),
                timeout=20)
    await stop_host(host)
    await read(lambda: Bot.objects.filter(pk=bot.id).update(heartbeat_at=later(-5)))  # the engine died 5 min ago
    getattr(sim, venue).trading.cancel(first)  # and the stop is gone from the venue

    elsewhere = await read(guard_positions, bot_ids=[bot.id])  # another process: no way to this simulator
    assert elsewhere.placed == 0 and venue_stops(sim, venue, key) == []
    assert "kraken (kraken) has no order API reachable here" in elsewhere.errors[0], elsewhere.errors

    served = {c: endpoint.rest for c, endpoint in simulator_venues(sim.urls).endpoints.items()}  # as the engine's
    guard_here = embedded_jobs(None, served)["bots.guard_positions"]
    report = await read(guard_here)
    assert report["placed"] == 1 and not report["errors"], report
    position = await read(open_position, bot.id)
    [again] = venue_stops(sim, venue, key)
    assert (again.stop_price, again.orig_qty) == (first.stop_price, held(position, venue))
    assert [m.split(" protective")[0] for m in await read(events, bot.id)] == ["Placed a missing"]
    assert len(await read(notified, bot.id)) == 1
