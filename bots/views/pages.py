"""Dashboard, bot detail, the bots' JSON snapshots and the start/stop/pause buttons."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import access, services
from ..chart import render_price_chart
from ..services import snapshots

ACTIONS = {"start": services.start_bot, "stop": services.stop_bot, "pause": services.pause_bot,
           "resume": services.resume_bot}


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The user's bots with status, mode, position, last price and P&L (live with JavaScript)."""
    return render(request, "bots/dashboard.html", {"snapshot": snapshots.dashboard(request.user)})


@login_required
def dashboard_snapshot(request: HttpRequest) -> JsonResponse:
    """The dashboard's data, reloaded by the live client on every (re)connect."""
    return JsonResponse(snapshots.dashboard(request.user))


@login_required
def bot_detail(request: HttpRequest, bot_id: int) -> HttpResponse:
    """One bot: chart, position, orders, event log and its buttons."""
    bot = access.get_bot_for_user(request.user, bot_id)
    return render(request, "bots/bot_detail.html", {"bot": bot, "snapshot": snapshots.bot_detail(bot)})


@login_required
def bot_snapshot(request: HttpRequest, bot_id: int) -> JsonResponse:
    """The bot page's data as JSON."""
    bot = access.get_bot_for_user(request.user, bot_id)
    return JsonResponse(snapshots.bot_detail(bot))


@login_required
def bot_chart(request: HttpRequest, bot_id: int) -> HttpResponse:
    """The bot's price chart as SVG: what the live page swaps in while prices arrive."""
    bot = access.get_bot_for_user(request.user, bot_id)
    response = HttpResponse(render_price_chart(snapshots.bot_chart(bot)), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def bot_action(request: HttpRequest, bot_id: int, action: str) -> HttpResponse:
    """Start, stop, pause or resume one of the user's bots."""
    bot = access.get_bot_for_user(request.user, bot_id)
    if action not in ACTIONS:
        raise Http404("No such action")
    try:
        ACTIONS[action](bot, actor=request.user.get_username())
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{bot.name}: {action} requested.")
    return redirect("bot-detail", bot_id=bot.pk)
