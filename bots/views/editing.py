"""Bot create/edit and exchange-account pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from .. import access
from ..forms import BotForm, ExchangeAccountForm
from ..models import ExchangeAccount
from ..services import accounts, portal


@login_required
def bot_create(request: HttpRequest) -> HttpResponse:
    """A new bot from the strategy's parameter form (paper by default)."""
    form = BotForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        bot = portal.create_bot(request.user, form.bot_data())
        messages.success(request, f"Bot {bot.name} created. Start it when you are ready.")
        return redirect("bot-detail", bot_id=bot.pk)
    if form.errors:
        messages.error(request, "Please correct the errors below.")
    return render(request, "bots/bot_form.html", {"form": form, "bot": None})


@login_required
def bot_edit(request: HttpRequest, bot_id: int) -> HttpResponse:
    """Change a bot's settings; a running bot reloads them."""
    bot = access.get_bot_for_user(request.user, bot_id)
    form = BotForm(request.POST or None, user=request.user, instance=bot)
    if request.method == "POST" and form.is_valid():
        portal.update_bot(bot, form.bot_data(), actor=request.user.get_username())
        messages.success(request, f"Bot {bot.name} saved.")
        return redirect("bot-detail", bot_id=bot.pk)
    if form.errors:
        messages.error(request, "Please correct the errors below.")
    return render(request, "bots/bot_form.html", {"form": form, "bot": bot})


@login_required
def exchange_accounts(request: HttpRequest) -> HttpResponse:
    """The user's exchange keys (masked) and a form to add one."""
    form = ExchangeAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            account = accounts.add_exchange_account(request.user, form.cleaned_data)
        except accounts.KeyRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Account {account.label} added; its keys are stored encrypted.")
            return redirect("exchange-accounts")
    if form.errors:
        messages.error(request, "Please correct the errors below.")
    rows = ExchangeAccount.objects.for_user(request.user).select_related("exchange")
    return render(request, "bots/exchange_accounts.html", {"form": form, "accounts": rows})


@login_required
@require_POST
def exchange_account_delete(request: HttpRequest, account_id: int) -> HttpResponse:
    """Remove one of the user's accounts (refused while a bot uses it)."""
    account = access.get_account_for_user(request.user, account_id)
    try:
        portal.remove_exchange_account(account)
    except portal.AccountInUse as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Account {account.label} removed.")
    return redirect("exchange-accounts")
