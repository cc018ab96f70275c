"""The portfolio read model: every bot of a user together, per quote currency (USDT and EUR are never
added up): total equity, P&L overall and today, exposure per asset, and P&L over time from the daily
snapshots the scheduled job takes (``jobs.snapshot_daily_pnl``). A fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from ..models import DailyPnlSnapshot
from .snapshots import dashboard

ZERO = Decimal(0)
CENT = Decimal("0.01")
HISTORY_DAYS = 366


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part * 100 / whole).quantize(CENT) if whole else None


def pnl_history(user: object, since: date) -> dict[str, list[tuple[date, Decimal]]]:
    """Daily P&L (realised + unrealised, summed over the user's bots) per quote currency, oldest first.

    PostgreSQL sums the numeric columns per day (a year of 100 bots is 36,500 rows, 366 sums);
    SQLite keeps amounts as exact text, where SUM would go through floats, so there the rows are
    summed here as Decimals."""
    rows = (DailyPnlSnapshot.objects.for_user(user).filter(date__gte=since)
            .values_list("date", "bot__market__quote"))
    totals: dict[str, dict[date, Decimal]] = defaultdict(dict)
    if connection.vendor == "postgresql":
        summed = rows.order_by().annotate(pnl=Sum(F("realized") + F("unrealized")))
        for day, quote, pnl in summed:
            totals[quote][day] = pnl
    else:
        for day, quote, realized, unrealized in rows.values_list(
                "date", "bot__market__quote", "realized", "unrealized").iterator(chunk_size=5000):
            by_day = totals[quote]
            by_day[day] = by_day.get(day, ZERO) + realized + unrealized
    return {q: sorted(days.items()) for q, days in totals.items()}


def portfolio(user: object, today: date | None = None) -> dict[str, Any]:
    """The user's whole book, grouped by quote currency, largest capital first."""
    today = today or timezone.now().date()
    bots = dashboard(user)["bots"]
    history = pnl_history(user, today - timedelta(days=HISTORY_DAYS))
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
        before_today = [v for d, v in points if d < today]
        pnl_today = pnl - (before_today[-1] if before_today else ZERO)
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
            "history": [*((d, v) for d, v in points if d < today), (today, pnl)],
        })
    return {"books": out, "bot_count": len(bots), "today": today}
