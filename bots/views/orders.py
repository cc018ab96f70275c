"""The orders page: filter by bot, status and side; newest first, paginated by keyset
(the read model is ``services.snapshots.orders_page``)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..forms import OrdersFilterForm
from ..services import snapshots


@login_required
def orders(request: HttpRequest) -> HttpResponse:
    """The user's orders, newest first, filtered by bot, status and side; keyset pages."""
    filters = OrdersFilterForm(request.GET).values()  # bad values are dropped, never an error
    return render(request, "bots/orders.html", snapshots.orders_page(request.user, filters))
