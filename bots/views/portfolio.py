"""The portfolio page: the user's bots together (equity, P&L, exposure, P&L over time)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..services.portfolio import portfolio as portfolio_model


@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    """Total equity, P&L today and overall, exposure per asset, per quote currency."""
    return render(request, "bots/portfolio.html", portfolio_model(request.user))
