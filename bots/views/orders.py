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
    qs = access.orders_for_user(request.user).select_related("bot__market", "bot__exchange")
    bots = list(access.bots_for_user(request.user).only("id", "name"))
    chosen = {"bot": request.GET.get("bot", ""), "status": request.GET.get("status", ""),
              "side": request.GET.get("side", "")}
    if chosen["bot"].isdigit() and int(chosen["bot"]) in {b.pk for b in bots}:
        qs = qs.filter(bot_id=int(chosen["bot"]))
    if chosen["status"] in OrderStatus.values:
        qs = qs.filter(status=chosen["status"])
    if chosen["side"] in OrderSide.values:
        qs = qs.filter(side=chosen["side"])
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in chosen.items() if v)
    return render(request, "bots/orders.html", {
        "page": page, "bots": bots, "chosen": chosen, "query": query,
        "statuses": OrderStatus.choices, "sides": OrderSide.choices,
    })
