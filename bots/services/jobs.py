"""Scheduled jobs (run by Celery beat, or by ``bots.schedules`` inside the single-process ``run``):
the heartbeat watchdog, the daily P&L snapshot, pruning of old events and the market catalogue refresh.

Each job is idempotent: running it twice in a row changes nothing the second time.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from bots.engine.brokers.live import api_base
from bots.engine.types import FINAL_STATUSES
from bots.reconcile.binance import DEFAULT_REST
from marketdata.catalogue import MARKETS
from marketdata.models import Exchange, Market
from marketdata.services import load_catalogue

from ..models import (
    ENGINE_DOWN_REASON,
    Bot,
    BotEvent,
    BotStatus,
    DailyPnlSnapshot,
    Fill,
    OrderEvent,
    Position,
)
from ..price_memory import last_prices
from ..schedules import Job, default_jobs
from .lifecycle import set_bot_status

log = logging.getLogger(__name__)
ZERO = Decimal(0)
# The engine host resumes bots in error with this reason at its start (the engine was down, not the bot).
STALE_REASON = ENGINE_DOWN_REASON
PRUNE_CHUNK = 5000  # rows per DELETE, so pruning never holds a long lock on a busy table
PriceSource = Callable[[list[Bot]], dict[int, Decimal]]


# -- watchdog --------------------------------------------------------------------------------------------
def mark_stale_bots(now: datetime | None = None, stale_after: float | None = None) -> list[int]:
    """A running bot whose heartbeat is older than ``stale_after`` seconds goes to error; its owner
    is told on the portal (status push and a ``BotEvent``). Returns the ids it marked."""
    now = now or timezone.now()
    stale_after = stale_after if stale_after is not None else settings.WATCHDOG_STALE_SECONDS
    cut = now - timedelta(seconds=stale_after)
    marked = []
    candidates = Bot.objects.filter(status=BotStatus.RUNNING, heartbeat_at__lt=cut).values_list("id", flat=True)
    for bot_id in list(candidates):
        with transaction.atomic():
            qs = Bot.objects.select_related("owner").filter(pk=bot_id)
            if connection.features.has_select_for_update_skip_locked:
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            bot = qs.first()
            # re-check under the lock: the engine may have beaten (or stopped the bot) since the query
            if bot is None or bot.status != BotStatus.RUNNING or bot.heartbeat_at is None or bot.heartbeat_at >= cut:
                continue
            seconds = int((now - bot.heartbeat_at).total_seconds())
            set_bot_status(bot, BotStatus.ERROR, f"{STALE_REASON} for {seconds} s", actor="watchdog")
            marked.append(bot.id)
    if marked:
        log.warning("watchdog: %d running bot(s) without a heartbeat went to error: %s", len(marked), marked)
    return marked


# -- daily P&L -------------------------------------------------------------------------------------------
def cached_prices(bots: list[Bot]) -> dict[int, Decimal]:
    """Each bot's newest price as the engine published it (Django's cache), else its market's last fill."""
    out: dict[int, Decimal] = {}
    for bot_id, payload in last_prices([b.id for b in bots]).items():
        try:
            out[bot_id] = Decimal(str(payload.get("price")))
        except (InvalidOperation, TypeError, AttributeError):
            continue
    for bot in bots:
        if bot.id not in out:
            last = Fill.objects.filter(order__bot__market_id=bot.market_id).order_by("-time", "-id").values_list(
                "price", flat=True).first()
            if last is not None:
                out[bot.id] = last
    return out


def snapshot_daily_pnl(day: date | None = None, prices: PriceSource | None = None) -> int:
    """Write (or refresh) each bot's P&L row for ``day`` (today, UTC): cumulative realised P&L over its
    positions, unrealised P&L of the open one at the mark price, and equity = capital + both.
    Scheduled hourly, so the day's last run before midnight leaves its closing figures."""
    day = day or timezone.now().date()
    bots = list(Bot.objects.filter(positions__isnull=False).distinct().select_related("market"))
    marks = (prices or cached_prices)(bots)
    realized: dict[int, Decimal] = {}  # Decimal sums in Python: amounts are exact text on SQLite
    for bot_id, pnl in Position.objects.filter(bot__in=bots).values_list("bot_id", "realized_pnl"):
        realized[bot_id] = realized.get(bot_id, ZERO) + pnl
    open_positions = {p.bot_id: p for p in Position.objects.open().filter(bot__in=bots)}
    for bot in bots:
        position, mark = open_positions.get(bot.id), marks.get(bot.id)
        unrealized = ZERO
        if position is not None and position.average_entry is not None and mark is not None:
            unrealized = (mark - position.average_entry) * position.quantity
        gained = Decimal(realized.get(bot.id) or 0)
        DailyPnlSnapshot.objects.update_or_create(bot=bot, date=day, defaults={
            "realized": gained, "unrealized": unrealized, "equity": bot.capital + gained + unrealized,
            "mark_price": mark})
    return len(bots)


# -- pruning ---------------------------------------------------------------------------------------------
def prune_events(now: datetime | None = None, keep_days: float | None = None) -> dict[str, int]:
    """Delete bot events and order events older than ``keep_days`` (default ``EVENT_RETENTION_DAYS``,
    30), in chunks. An open order keeps its whole log: reconciliation's backoff reads it."""
    now = now or timezone.now()
    keep_days = keep_days if keep_days is not None else settings.EVENT_RETENTION_DAYS
    cut = now - timedelta(days=keep_days)
    bot_events = _delete_in_chunks(BotEvent.objects.filter(time__lt=cut))
    order_events = _delete_in_chunks(OrderEvent.objects.filter(time__lt=cut, order__status__in=FINAL_STATUSES))
    if bot_events or order_events:
        log.info("pruned %d bot events and %d order events older than %s", bot_events, order_events, cut)
    return {"bot_events": bot_events, "order_events": order_events}


def _delete_in_chunks(qs: Any) -> int:
    total = 0
    while True:
        ids = list(qs.values_list("id", flat=True)[:PRUNE_CHUNK])
        if not ids:
            return total
        total += qs.model.objects.filter(pk__in=ids).delete()[0]


# -- market catalogue ------------------------------------------------------------------------------------
def fetch_binance_rules(rest_url: str, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """``exchangeInfo`` of a Binance-protocol venue: venue symbol -> tick, step, min notional, trading."""
    url = api_base(rest_url or DEFAULT_REST) + "/exchangeInfo"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an HTTP URL: {url}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        info = json.loads(response.read().decode(), parse_float=Decimal)
    rules = {}
    for sym in info.get("symbols", []):
        filters = {f["filterType"]: f for f in sym.get("filters", [])}
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        rules[sym["symbol"]] = {
            "price_tick": Decimal(str(filters.get("PRICE_FILTER", {}).get("tickSize", "0"))),
            "quantity_step": Decimal(str(filters.get("LOT_SIZE", {}).get("stepSize", "0"))),
            "min_notional": Decimal(str(notional.get("minNotional", "0"))),
            "active": sym.get("status") == "TRADING",
        }
    return rules


def _catalogue_incomplete() -> bool:
    have = set(Market.objects.values_list("exchange__code", "symbol"))
    return any((code, row[0]) not in have for code, rows in MARKETS.items() for row in rows)


def refresh_market_catalogue(fetch: Callable[[str], dict[str, dict[str, Any]]] | None = None) -> dict[str, int]:
    """Complete the built-in catalogue, then take each Binance-protocol venue's current trading rules
    (tick, step, min notional, trading or not) from its ``exchangeInfo``: venues with a REST endpoint
    set, and the real Binance when ``MARKET_DATA_SOURCE`` is ``live``.
    A venue that does not answer keeps its rules; the others are still refreshed."""
    if _catalogue_incomplete():
        load_catalogue()  # it resets every market's rules, so only when a venue or market is missing
    fetch = fetch or fetch_binance_rules
    updated = failed = 0
    venues = Exchange.objects.enabled().filter(protocol="binance")
    if settings.MARKET_DATA_SOURCE != "live":
        venues = venues.exclude(rest_url="")
    for exchange in venues.exclude(code="simulator", rest_url=""):
        try:
            rules = fetch(exchange.rest_url)
        except Exception as exc:  # a venue being down must not stop the others' refresh
            log.warning("catalogue refresh: %s did not answer: %s", exchange.code, exc)
            failed += 1
            continue
        for market in Market.objects.filter(exchange=exchange):
            rule = rules.get(market.native_symbol)
            if rule is None or rule["price_tick"] <= 0 or rule["quantity_step"] <= 0:
                continue
            changed = [f for f, v in rule.items() if getattr(market, f) != v]
            if changed:
                for f in changed:
                    setattr(market, f, rule[f])
                market.save(update_fields=changed)
                updated += 1
    return {"updated": updated, "failed": failed}


# -- the schedule in the database (django-celery-beat) --------------------------------------------------
def _schedule_fields(job: Job) -> dict[str, object]:
    if job.every is not None:
        interval, _ = IntervalSchedule.objects.get_or_create(every=max(1, int(job.every)),
                                                             period=IntervalSchedule.SECONDS)
        return {"interval": interval, "crontab": None}
    cron = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*", **job.cron}
    crontab, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **cron)
    return {"crontab": crontab, "interval": None}


@transaction.atomic
def setup_schedules(jobs: list[Job] | None = None, *, reset: bool = False) -> list[tuple[str, str]]:
    """Create each job's ``PeriodicTask``; keep an existing one's (admin-edited) schedule unless ``reset``.
    Returns (name, created|updated|kept) per job."""
    out = []
    for job in jobs if jobs is not None else default_jobs():
        task = PeriodicTask.objects.filter(name=job.name).first()
        fields: dict[str, object] = {"task": job.task, "kwargs": json.dumps(job.kwargs), "description": job.description}
        if task is None:
            PeriodicTask.objects.create(name=job.name, **fields, **_schedule_fields(job))
            out.append((job.name, "created"))
            continue
        changed = {k: v for k, v in fields.items() if getattr(task, k) != v}
        if reset:
            changed.update(_schedule_fields(job))
            changed["enabled"] = True
        for key, value in changed.items():
            setattr(task, key, value)
        if changed:
            task.save()
        out.append((job.name, "updated" if changed else "kept"))
    return out
