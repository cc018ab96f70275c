"""The user's account-wide limits (across all of their bots)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ..forms import UserLimitsForm
from ..models import UserLimits
from ..services.limits import set_user_limits


@login_required
def limits(request: HttpRequest) -> HttpResponse:
    """Show and change the signed-in user's limits; the engine applies them on save."""
    current = UserLimits.objects.for_user(request.user).first()
    form = UserLimitsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        set_user_limits(request.user, **form.limits())
        messages.success(request, "Limits saved. They apply to all of your bots now.")
        return redirect("limits")
    if form.errors:
        messages.error(request, "Please correct the errors below.")
    return render(request, "bots/limits.html", {"form": form})
