"""The guardian: independent of the engine (a Celery beat job every few seconds, on its own worker),
every live position that should be protected has exactly one live protective stop at the right price
on the exchange. What it does per bot, each a ``BotEvent`` (kind ``guardian``) and a notification to
the owner (kind ``guardian``, if they asked for it):

- an orphan is cancelled: a stop on the venue carrying one of the bot's client order ids whose row is
  over (or missing), or a protective row beside the one kept, or any protective order of a position
  that no longer needs one (closed, no stop level, an exit of the engine in flight, bot stopped); a
  stop whose row went final while the venue was being listed is not one (the engine has just
  cancelled it itself: the list is older than the row), and is looked at again next pass;
- a missing one is placed (its row written first, like every order) and a stale one (another
  quantity, or a trigger below the position's level: a stop is never lowered) is replaced,
  cancel first, place once the venue confirmed the cancel: never two at once.

Where it calls the venue: the exchange's endpoint as the engine in this process trades on it when
given (``endpoints``: under the single-process ``run`` the engine's simulator, which the exchange
rows do not name), else the exchange row's (``reconcile.venue_rest``).

Races with the engine: the order rows are the truth, one guardian at a time per bot (an advisory lock
on PostgreSQL, a process lock on SQLite), and while the engine still beats for a bot (heartbeat younger
than ``GUARDIAN_ENGINE_STALE_SECONDS``) it owns placing and moving: the guardian then only cancels
orphans, which no engine can be about to use (a row is written before its order is sent). A stop that
is no longer open on the venue is settled by reconciliation (``reconcile_orders``: cancelled, or
filled with its fills recorded and the position closed) before anything is placed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from bots.engine import types as core
from bots.engine.config import ProtectConfig
from bots.engine.positions import Position as CorePosition
from bots.engine.protect import Wanted, wanted_for
from marketdata.exchanges.base import OrderRefused, TradingClient, VenueOrder, VenueUnavailable
from marketdata.exchanges.registry import get_adapter

from ..models import Bot, BotMode, BotStatus, NotificationKind, Order, Position
from .lifecycle import create_bot_event
from .notifications import notify
from .orders import create_order, update_order
from .reconcile import reconcile_orders, scope_lock, venue_rest
from .reconcile_fetch import account_client, client_factory
from .rows import bot_spec, core_order, position_data, risk_settings

log = logging.getLogger(__name__)
KNOWN_IDS = 50  # our recent protective ids the venue's list is matched against (Kraken carries them as UUIDs)
_alive_checked: dict[int, datetime] = {}  # bot -> when its venue was last listed while its engine beat
# A row that went final this long before the venue was listed, or later, may be newer than the listing:
# the engine cancels its own stop when it moves it or exits, and the row follows the venue's answer.
# Such a stop is left for the next pass (clock skew between the engine's machine and ours fits in it).
SETTLED_WHILE_LISTING = timedelta(seconds=1)
GUARDED = (BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.ERROR, BotStatus.STARTING)  # not stopped by the user


@dataclass(slots=True)
class GuardReport:
    """What one guardian pass did."""

    bots: int = 0
    placed: int = 0
    replaced: int = 0
    cancelled: int = 0
    busy: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"bots": self.bots, "placed": self.placed, "replaced": self.replaced, "cancelled": self.cancelled,
                "busy": self.busy, "errors": self.errors}


@dataclass(slots=True)
class _Venues:
    """Where this pass calls the venues: exchange code -> REST base served here (else the row's)."""

    endpoints: Mapping[str, str]

    def rest(self, bot: Bot) -> str:
        ex = bot.exchange
        return self.endpoints.get(ex.code) or venue_rest(
            {"exchange__protocol": ex.protocol, "exchange__rest_url": ex.rest_url, "exchange__testnet": ex.testnet}, "")

    def reconcile(self, bot: Bot) -> None:
        reconcile_orders(bot_ids=[bot.id], client_factory=client_factory(None, self.endpoints))


def guard_positions(*, bot_ids: list[int] | None = None, now: datetime | None = None,
                    endpoints: Mapping[str, str] | None = None) -> GuardReport:
    """One pass over every live bot with a position to protect or a protective order (or only ``bot_ids``);
    a stopped bot's position is the user's: only its leftover stops are cancelled. ``endpoints``:
    exchange code -> REST base the engine of this process trades on (``bots.platform``)."""
    now = now or timezone.now()
    venues = _Venues(endpoints or {})
    report = GuardReport()
    live = Bot.objects.filter(mode=BotMode.LIVE, account__isnull=False)
    if bot_ids is not None:
        live = live.filter(pk__in=bot_ids)
    with_position = Position.objects.open().values_list("bot_id", flat=True)
    with_stop = Order.objects.open().filter(reason=core.PROTECTIVE_STOP).values_list("bot_id", flat=True)
    ids = sorted(set(live.filter(pk__in=with_position, status__in=GUARDED).values_list("id", flat=True))
                 | set(live.filter(pk__in=with_stop).values_list("id", flat=True)))
    for bot_id in ids:
        with scope_lock(f"guardian:bot:{bot_id}") as got:
            if not got:
                report.busy += 1
                continue
            try:
                _guard(Bot.objects.select_related("market", "exchange", "account").get(pk=bot_id), now, report, venues)
            except (VenueUnavailable, OrderRefused) as exc:
                report.errors.append(f"bot {bot_id}: {exc}"[:300])
        report.bots += 1
    if report.placed or report.replaced or report.cancelled or report.errors:
        log.info("guardian: %s", report.as_dict())
    return report


# -- one bot ---------------------------------------------------------------------------------------------
def _wanted(bot: Bot) -> Wanted | None:
    """Where the bot's stop should rest, from its position row (None: it needs none)."""
    if bot.status not in GUARDED or not get_adapter(bot.exchange.protocol).capabilities.protective_stops:
        return None
    row = Position.objects.open().filter(bot=bot).first()
    if row is None:
        return None
    exit_in_flight = Order.objects.open().filter(bot=bot, side="sell").exclude(reason=core.PROTECTIVE_STOP).exists()
    position = CorePosition.from_dict(position_data(row), risk_settings(bot), base=bot.market.base)
    return None if exit_in_flight else wanted_for(position, bot_spec(bot).rules, ProtectConfig().limit_offset_pct)


def _engine_alive(bot: Bot, now: datetime) -> bool:
    stale = timedelta(seconds=settings.GUARDIAN_ENGINE_STALE_SECONDS)
    return bot.status in (BotStatus.RUNNING, BotStatus.PAUSED) and bot.heartbeat_at is not None and \
        now - bot.heartbeat_at < stale


def _rows(bot: Bot) -> list[Order]:
    return list(Order.objects.open().filter(bot=bot, reason=core.PROTECTIVE_STOP).order_by("created_at", "id"))


def _guard(bot: Bot, now: datetime, report: GuardReport, venues: _Venues) -> None:
    if _engine_alive(bot, now):
        # the engine keeps its stop; a look for orphans now and then spares the venue's request budget
        # (Kraken's key budget could not take a listing every few seconds per bot)
        last = _alive_checked.get(bot.id)
        if last is not None and now - last < timedelta(seconds=settings.GUARDIAN_ALIVE_CHECK_SECONDS):
            return
        _alive_checked[bot.id] = now
    symbol = bot.market.symbol
    prefix = core.new_client_order_id(bot.id).rsplit("-", 1)[0] + "-"  # the bot's ids: ``bp<bot>-``
    known = list(Order.objects.filter(bot=bot, reason=core.PROTECTIVE_STOP).order_by("-id")
                 .values_list("client_order_id", flat=True)[:KNOWN_IDS])
    listed_at = timezone.now()
    on_venue = _run(bot, venues, lambda c: _our_stops(c, symbol, prefix, known))
    rows = _rows(bot)  # read after the venue's list: a row is written before its order is sent
    if any(r.client_order_id not in on_venue for r in rows):  # gone from the venue: settle them first
        venues.reconcile(bot)
        rows = _rows(bot)
    want, alive = _wanted(bot), _engine_alive(bot, now)
    by_id = {r.client_order_id: r for r in rows}
    unmanaged = [coid for coid in on_venue if coid not in by_id]  # orphans, unless their row just went final
    just_settled = set(Order.objects.filter(
        bot=bot, client_order_id__in=unmanaged, status__in=core.FINAL_STATUSES,
        updated_at__gte=listed_at - SETTLED_WHILE_LISTING).values_list("client_order_id", flat=True)) \
        if unmanaged else set()
    keep = next((r for r in rows if want is not None and r.client_order_id in on_venue
                 and _fits(on_venue[r.client_order_id], want)), None)
    stale: list[tuple[VenueOrder, Order]] = []
    for coid, venue in on_venue.items():
        row = by_id.get(coid)
        if row is not None and row is keep:
            continue
        if row is None:  # no live row: nobody will ever manage it
            if coid in just_settled:
                continue  # its row went final as we listed (the engine cancelled it): the list is older
            _cancel(bot, venues, venue, None, "orphan", report)
        elif alive:
            continue  # the engine owns its live rows
        elif want is None or keep is not None:  # a position that needs none, or a second one
            _cancel(bot, venues, venue, row, "orphan", report)
        else:
            stale.append((venue, row))
    if want is None or keep is not None or alive:
        return
    for venue, row in stale:
        if not _cancel(bot, venues, venue, row, "stale", report):
            return  # not confirmed gone: never a second one beside it
    if any(r.status in core.UNCONFIRMED_STATUSES for r in _rows(bot)):
        return  # a row whose fate is not yet known (reconciliation will tell)
    _place(bot, venues, want, report, replaced=bool(stale))


def _fits(venue: VenueOrder, want: Wanted) -> bool:
    """The right stop: the wanted quantity, its trigger not below the level (an engine ahead of the
    saved trailing high may have raised it already; a stop is never lowered)."""
    return venue.quantity - venue.filled_quantity == want.quantity and (venue.stop_price or 0) >= want.stop_price


async def _our_stops(client: TradingClient, symbol: str, prefix: str, ids: list[str]) -> dict[str, VenueOrder]:
    client.expect(ids)
    return {o.client_order_id: o for o in await client.open_orders(symbol)
            if o.stop_price is not None and (o.client_order_id.startswith(prefix) or o.client_order_id in ids)}


def _cancel(bot: Bot, venues: _Venues, venue: VenueOrder, row: Order | None, why: str, report: GuardReport) -> bool:
    """Cancel one stop; True once the venue confirms it is over (a fill is left to reconciliation)."""
    after = _run(bot, venues, lambda c: c.cancel(bot.market.symbol, venue.client_order_id, venue.exchange_order_id))
    done = after.status in core.FINAL_STATUSES
    if row is not None and done:
        order = core_order(row, bot_spec(bot).instrument)
        if after.filled_quantity > order.filled_quantity:
            venues.reconcile(bot)  # the stop filled first: its fills close the position
        else:
            order.status = after.status
            update_order(order, f"cancelled by the guardian ({why})")
    if why == "orphan":
        report.cancelled += 1
        _record(bot, f"Cancelled an orphan protective stop {venue.client_order_id}",
                {"client_order_id": venue.client_order_id, "status": after.status})
    return done


def _place(bot: Bot, venues: _Venues, want: Wanted, report: GuardReport, *, replaced: bool) -> None:
    spec = bot_spec(bot)
    order = core.Order(core.new_client_order_id(bot.id), bot.id, spec.instrument, "sell", "stop", want.quantity,
                       want.limit_price, timezone.now(), purpose=core.PROTECTIVE_STOP, stop_price=want.stop_price)
    create_order(order, is_paper=False)  # written before it is sent
    try:
        venue = _run(bot, venues, lambda c: c.place_protective_stop(
            spec.instrument.symbol, want.quantity, want.stop_price, want.limit_price, order.client_order_id))
        order.status, order.exchange_order_id = venue.status, venue.exchange_order_id or None
    except OrderRefused as exc:
        order.status, order.last_error = "rejected", str(exc)[:500]
    except VenueUnavailable as exc:
        order.status, order.last_error = "unknown", str(exc)[:500]  # reconciliation finds it by its id
    update_order(order, "placed by the guardian")
    verb = "Replaced a stale" if replaced else "Placed a missing"
    if replaced:
        report.replaced += 1
    else:
        report.placed += 1
    _record(bot, f"{verb} protective stop at {want.stop_price} ({order.status})",
            {"client_order_id": order.client_order_id, "stop_price": str(want.stop_price),
             "limit_price": str(want.limit_price), "quantity": str(want.quantity), "status": order.status})


def _record(bot: Bot, message: str, data: dict[str, Any]) -> None:
    """What the guardian did: a ``BotEvent`` in the bot's log and a notification to its owner."""
    create_bot_event(bot, "guardian", message, data)
    notify(bot.owner_id, NotificationKind.GUARDIAN, f"{bot.name}: {message[0].lower()}{message[1:]}",
           f"The guardian acted on {bot.market.symbol} on {bot.exchange.name} while the engine was not "
           f"managing the protective stop: {message}.", bot_id=bot.id)


def _run(bot: Bot, venues: _Venues, call: Any) -> Any:
    """One venue conversation on the bot's account, on a fresh event loop (Celery workers are sync)."""

    async def go() -> Any:
        rest = venues.rest(bot)
        client = account_client(bot.exchange.protocol, rest, bot.account) if rest else None
        if client is None:
            raise VenueUnavailable(f"{bot.exchange.code} ({bot.exchange.protocol}) has no order API reachable "
                                   "here: no endpoint set on the exchange and no engine in this process serving it")
        try:
            return await call(client)
        finally:
            await client.close()

    return asyncio.run(go())
