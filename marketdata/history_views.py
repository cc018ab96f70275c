"""The history page: what candles are stored per market (range, gaps) and downloads with live progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import history
from .klines import INTERVAL_MS
from .models import HistoryDownload, Market


class DownloadForm(forms.Form):
    market = forms.ModelChoiceField(queryset=Market.objects.active().select_related("exchange"))
    timeframe = forms.ChoiceField(choices=[(k, k) for k in INTERVAL_MS], initial="1m")
    since = forms.DateTimeField(help_text="UTC, e.g. 2026-01-01",
                                initial=lambda: (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d %H:%M"))
    until = forms.DateTimeField(required=False, help_text="empty: until now")


@login_required
def history_page(request: HttpRequest) -> HttpResponse:
    """Stored ranges per market and timeframe, one series' gaps (``?market=&timeframe=``), downloads."""
    history.reap_stale()  # a download whose worker stopped is shown failed, with why
    gaps = None
    if request.GET.get("market"):
        try:
            market = Market.objects.select_related("exchange").get(pk=int(request.GET["market"]))
        except (Market.DoesNotExist, ValueError) as exc:
            raise Http404("No such market") from exc
        gaps = history.describe_range(market, request.GET.get("timeframe", "1m"), None, None)
    return render(request, "marketdata/history.html", {
        "series": history.history_overview(), "gaps": gaps, "form": DownloadForm(),
        "downloads": HistoryDownload.objects.select_related("market__exchange")[:20]})


@login_required
@require_POST
def history_download(request: HttpRequest) -> HttpResponse:
    """Start a download in a Celery task; its progress arrives on the page live."""
    form = DownloadForm(request.POST)
    if not form.is_valid():
        return render(request, "marketdata/history.html", {
            "series": history.history_overview(), "gaps": None, "form": form,
            "downloads": HistoryDownload.objects.select_related("market__exchange")[:20]}, status=400)
    d = form.cleaned_data
    history.request_download(request.user, d["market"], d["timeframe"], d["since"], d["until"])
    return redirect("market-history")


@login_required
def history_snapshot(request: HttpRequest) -> JsonResponse:
    """The listed downloads' state as JSON: the live page reads it on every (re)connect, so a download
    that ended before its socket opened is not left showing "running"."""
    history.reap_stale()
    rows = HistoryDownload.objects.values("pk", "status", "progress", "stored")[:20]
    return JsonResponse({"downloads": [{"download_id": r["pk"], "status": r["status"], "progress": r["progress"],
                                        "stored": r["stored"]} for r in rows]})
