"""The orders page: filter by bot, status and side; newest first, paginated by keyset.

Keyset, not page numbers: "older than order N" is one index range scan whatever the depth, where an
OFFSET page and its total count read every order of the user (a third of the page's time at 100,000
orders). Each page is a fixed number of queries.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .. import access
from ..models import OrderSide, OrderStatus

PAGE_SIZE = 50


@login_required
def orders(request: HttpRequest) -> HttpResponse:
    """The user's orders, newest first. Unknown filter values are ignored, never an error."""
    # Newest first by id (ids grow with creation): the primary key serves the order and the limit, where
    # ("-created_at", "-id") made the database sort every order of the user (0.8 s at 100,000 on SQLite).
    qs = access.orders_for_user(request.user).order_by("-id")
    bots = list(access.bots_for_user(request.user).values("id", "name", "market__symbol", "exchange__code"))
    by_id = {b["id"]: b for b in bots}
    chosen = {"bot": request.GET.get("bot", ""), "status": request.GET.get("status", ""),
              "side": request.GET.get("side", "")}
    if chosen["bot"].isdigit() and int(chosen["bot"]) in by_id:
        qs = qs.filter(bot_id=int(chosen["bot"]))
    if chosen["status"] in OrderStatus.values:
        qs = qs.filter(status=chosen["status"])
    if chosen["side"] in OrderSide.values:
        qs = qs.filter(side=chosen["side"])
    before = request.GET.get("before", "")
    if before.isdigit():
        qs = qs.filter(id__lt=int(before))
    rows = list(qs[:PAGE_SIZE + 1])
    older = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    for order in rows:  # the bots are loaded already: no join in the page query
        order.bot_info = by_id[order.bot_id]
    query = "&".join(f"{k}={v}" for k, v in chosen.items() if v)
    return render(request, "bots/orders.html", {
        "orders": rows, "older": older, "is_first": not before.isdigit(), "bots": bots, "chosen": chosen,
        "query": query, "statuses": OrderStatus.choices, "sides": OrderSide.choices,
    })
