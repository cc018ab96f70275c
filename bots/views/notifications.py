"""The notifications page: what to hear about and where, and the last notifications sent."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .. import access
from ..forms import NotificationSettingsForm
from ..services import notifications as service


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    """Choose fills/errors/paused/discrepancies by e-mail and/or webhook; see the last ones."""
    current = access.notification_settings_for_user(request.user)
    initial = {"kinds": current.kinds, "email": current.email, "webhook_url": current.webhook_url} if current \
        else {"email": request.user.email}
    form = NotificationSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        service.update_notification_settings(request.user, **form.cleaned_data)
        messages.success(request, "Notification settings saved.")
        return redirect("notifications")
    return render(request, "bots/notifications.html",
                  {"form": form, "recent": service.recent_notifications(request.user)})
