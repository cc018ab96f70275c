"""The portfolio read model: every bot of a user together, per quote currency (USDT and EUR are never
added up): total equity, P&L overall and today, exposure per asset, and P&L over time from the daily
snapshots the scheduled job takes (``jobs.snapshot_daily_pnl``). A fixed number of queries."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from ..fields import AmountField
from ..models import DailyPnlSnapshot
from .snapshots import dashboard

ZERO = Decimal(0)
CENT = Decimal("0.01")
HISTORY_DAYS = 366
HISTORY_CACHE_SECONDS = 600


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part * 100 / whole).quantize(CENT) if whole else None


def pnl_history(bot_quotes: dict[int, str], since: date, today: date) -> dict[str, list[tuple[date, Decimal]]]:
    """Daily P&L (realised + unrealised, summed over the bots) per quote currency, oldest first,
    for the closed days from ``since`` to yesterday.

    One query per quote currency (usually one), by bot id: no join; the database sums per day (a
    year of 100 bots is 36,500 rows, 365 sums). PostgreSQL's numeric sums are exact; see below for
    SQLite.
    Closed days do not change (the hourly job writes today's row), so a user's history is cached
    for the day, ``HISTORY_CACHE_SECONDS`` at most."""
    key = f"portal.pnl_history.{today.isoformat()}.{since.isoformat()}." + ",".join(
        f"{b}:{q}" for b, q in sorted(bot_quotes.items()))
    key = f"portal.pnl_history.{hashlib.sha256(key.encode()).hexdigest()}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    by_quote: dict[str, list[int]] = defaultdict(list)
    for bot_id, quote in bot_quotes.items():
        by_quote[quote].append(bot_id)
    out: dict[str, list[tuple[date, Decimal]]] = {}
    for quote, ids in by_quote.items():
        rows = DailyPnlSnapshot.objects.filter(bot_id__in=ids, date__gte=since, date__lt=today).order_by()
        days = dict(rows.values_list("date").annotate(pnl=Sum(F("realized") + F("unrealized"),
                                                              output_field=AmountField())))
        if days and connection.vendor != "postgresql":
            # SQLite summed its text amounts as REALs: good to a fraction of a cent for the chart's
            # line. The last close, which "P&L today" is measured from, is summed exactly here.
            last = max(days)
            days[last] = _exact_sum(rows.filter(date=last))
        out[quote] = sorted(days.items())
    cache.set(key, out, HISTORY_CACHE_SECONDS)
    return out


def _exact_sum(rows: Any) -> Decimal:
    """Realised + unrealised over some snapshot rows, as Decimals (exact on SQLite's text column)."""
    total = ZERO
    for realized, unrealized in rows.values_list("realized", "unrealized"):
        total += realized + unrealized
    return total


def portfolio(user: object, today: date | None = None) -> dict[str, Any]:
    """The user's whole book, grouped by quote currency, largest capital first."""
    today = today or timezone.now().date()
    bots = dashboard(user)["bots"]
    history = pnl_history({b["id"]: b["quote"] for b in bots}, today - timedelta(days=HISTORY_DAYS), today)
    books: dict[str, dict[str, Any]] = {}
    for b in bots:
        book = books.setdefault(b["quote"], {"quote": b["quote"], "capital": ZERO, "realized": ZERO,
                                             "unrealized": ZERO, "bots": 0, "running": 0, "assets": {}})
        book["bots"] += 1
        book["running"] += b["status"] in ("running", "starting")
        book["capital"] += Decimal(b["capital"])
        book["realized"] += Decimal(b["realized_pnl"] or 0)
        book["unrealized"] += Decimal(b["unrealized_pnl"] or 0)
        position = b["position"] or {}
        quantity = Decimal(position.get("quantity") or 0)
        if quantity:
            mark = b["last_price"] or position.get("average_entry")
            asset = book["assets"].setdefault(b["base"], {"asset": b["base"], "quantity": ZERO, "value": ZERO,
                                                          "qty_dp": b["qty_dp"], "bots": 0})
            asset["quantity"] += quantity
            asset["value"] += quantity * Decimal(mark or 0)
            asset["bots"] += 1
    out = []
    for quote, book in sorted(books.items(), key=lambda kv: -kv[1]["capital"]):
        pnl = book["realized"] + book["unrealized"]
        equity = book["capital"] + pnl
        points = history.get(quote, [])
        pnl_today = pnl - (points[-1][1] if points else ZERO)
        exposure = sorted(book["assets"].values(), key=lambda a: -a["value"])
        invested = sum((a["value"] for a in exposure), ZERO)
        for a in exposure:
            a["share"] = _pct(a["value"], equity)
        out.append({
            "quote": quote, "bots": book["bots"], "running": book["running"], "capital": book["capital"],
            "equity": equity, "pnl": pnl, "pnl_pct": _pct(pnl, book["capital"]), "realized": book["realized"],
            "unrealized": book["unrealized"], "pnl_today": pnl_today,
            "pnl_today_pct": _pct(pnl_today, equity - pnl_today),
            "exposure": exposure, "invested": invested, "cash": equity - invested,
            "invested_pct": _pct(invested, equity),
            # The chart's points: the snapshots' days, then now (today's snapshot may be an hour old).
            "history": [*points, (today, pnl)],
        })
    return {"books": out, "bot_count": len(bots), "today": today}
