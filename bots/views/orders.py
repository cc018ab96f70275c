"""The orders page: filter by bot, status and side; paginated with a fixed number of queries."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
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
    chosen = {"bot": request.GET.get("bot", ""), "status": request.GET.get("status", ""),
              "side": request.GET.get("side", "")}
    by_id = {b["id"]: b for b in bots}
    if chosen["bot"].isdigit() and int(chosen["bot"]) in by_id:
        qs = qs.filter(bot_id=int(chosen["bot"]))
    if chosen["status"] in OrderStatus.values:
        qs = qs.filter(status=chosen["status"])
    if chosen["side"] in OrderSide.values:
        qs = qs.filter(side=chosen["side"])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for order in page.object_list:  # the bots are loaded already: no join in the page query
        order.bot_info = by_id[order.bot_id]
    query = "&".join(f"{k}={v}" for k, v in chosen.items() if v)
    return render(request, "bots/orders.html", {
        "page": page, "bots": bots, "chosen": chosen, "query": query,
        "statuses": OrderStatus.choices, "sides": OrderSide.choices,
    })
