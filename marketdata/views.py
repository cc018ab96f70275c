"""The market-data page: per-exchange health, messages/s, latency and reconnects (live over /ws/market/),
and one market's live prices from the market-data fan-out (live over /ws/market/<exchange>/<symbol>/)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from cluster.status import venue_readers

from .health import published_feed_health
from .models import Exchange, Market


def _health() -> dict[str, Any]:
    """The newest metrics the market-data manager's host published (``marketdata.health``)."""
    published = published_feed_health()
    readers = venue_readers()  # with feed processes (runfeeds): which one reads each venue
    rows = {}
    for exchange in Exchange.objects.enabled():
        rows[exchange.code] = {"name": exchange.name, **published.get(exchange.code, {}),
                               "reader": readers.get(exchange.code, "")}
    return {"exchanges": rows, "live": bool(published)}


def _prices(choice: str) -> dict[str, Any]:
    """The live-price panel: the enabled markets to choose from and the chosen one's socket. Prices
    come from the fan-out (feed processes through Redis); without Redis (the single-process mode)
    there is none, and the bots' pages show their own market's price."""
    if not settings.REDIS_URL:
        return {"enabled": False}
    markets = [{"key": f"{m.exchange.code}:{m.symbol}", "exchange": m.exchange.code, "exchange_name": m.exchange.name,
                "symbol": m.symbol, "socket": f"/ws/market/{m.exchange.code}/{m.symbol.replace('/', '-')}/"}
               for m in Market.objects.filter(exchange__enabled=True, active=True).select_related("exchange")]
    selected = next((m for m in markets if m["key"] == choice), markets[0] if markets else None)
    return {"enabled": bool(markets), "markets": markets, "selected": selected}


@login_required
def market_health(request: HttpRequest) -> HttpResponse:
    """Every enabled exchange with its feed's health and numbers, and one market's live prices."""
    return render(request, "marketdata/health.html", {"snapshot": _health(),
                                                      "prices": _prices(request.GET.get("market", ""))})


@login_required
def market_health_snapshot(request: HttpRequest) -> JsonResponse:
    """The same as JSON, for the live client's (re)connect."""
    return JsonResponse(_health())
