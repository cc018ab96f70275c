"""What reconciliation found in the user's accounts (resolved by staff in the admin)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import Discrepancy


@login_required
def discrepancies(request: HttpRequest) -> HttpResponse:
    """The user's open findings, newest first, then the last resolved ones."""
    mine = Discrepancy.objects.for_user(request.user).select_related("bot", "account__exchange")
    return render(request, "bots/discrepancies.html", {
        "open": mine.unresolved().order_by("-created_at")[:200],
        "resolved": mine.exclude(status="open").order_by("-resolved_at")[:50],
    })
