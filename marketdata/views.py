"""The market-data page: per-exchange health, messages/s, latency and reconnects (live over /ws/market/)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from cluster.status import venue_readers

from .health import published_feed_health
from .models import Exchange


def _health() -> dict[str, Any]:
    """The newest metrics the market-data manager's host published (``marketdata.health``)."""
    published = published_feed_health()
    readers = venue_readers()  # with feed processes (runfeeds): which one reads each venue
    rows = {}
    for exchange in Exchange.objects.enabled():
        rows[exchange.code] = {"name": exchange.name, **published.get(exchange.code, {}),
                               "reader": readers.get(exchange.code, "")}
    return {"exchanges": rows, "live": bool(published)}


@login_required
def market_health(request: HttpRequest) -> HttpResponse:
    """Every enabled exchange with its feed's health and numbers."""
    return render(request, "marketdata/health.html", {"snapshot": _health()})


@login_required
def market_health_snapshot(request: HttpRequest) -> JsonResponse:
    """The same as JSON, for the live client's (re)connect."""
    return JsonResponse(_health())
