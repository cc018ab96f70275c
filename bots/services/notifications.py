"""Notifications: a user's choice of events (fills, errors, paused bots, discrepancies) sent by e-mail
(Django's mail backend) and/or to a webhook, delivered by a Celery task, at most
``NOTIFY_RATE_PER_HOUR`` per user (the rest are kept, marked as held back, and listed in the portal).

``notify()`` is what other services call: it writes the row and enqueues delivery on commit (never
sends from the caller's thread: the engine's writer calls it for fills). ``deliver_notification()``
is the task's body.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.request
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from botplatform.celery import enqueue

from ..models import Notification, NotificationKind, NotificationSettings, NotificationStatus

log = logging.getLogger(__name__)
DELIVER_TASK = "bots.deliver_notification"


class WebhookRefused(ValueError):
    """A webhook URL that may not be called (scheme, or a private address in production)."""


def check_webhook_url(url: str, *, allow_private: bool | None = None) -> None:
    """Refuse anything but http(s) to a public address (unless private targets are allowed: the
    single-machine default). Every address the name resolves to is checked, not only the first."""
    allow_private = settings.NOTIFY_ALLOW_PRIVATE_WEBHOOKS if allow_private is None else allow_private
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("Use an http:// or https:// address.")
    if parts.username or parts.password:
        raise WebhookRefused("Put no credentials in the address; use a secret path or token instead.")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookRefused(f"{parts.hostname} does not resolve.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise WebhookRefused(f"{parts.hostname} is a private, loopback or reserved address ({address}).")


def update_notification_settings(user: Any, *, kinds: list[str], email: str, webhook_url: str) -> NotificationSettings:
    """Save what the user wants to hear about and where."""
    row, _ = NotificationSettings.objects.get_or_create(owner=user)
    row.kinds = [k for k in NotificationKind.values if k in kinds]
    row.email, row.webhook_url = email, webhook_url
    row.save(update_fields=["kinds", "email", "webhook_url", "updated_at"])
    return row


def notify(owner_id: int, kind: str, title: str, message: str = "", *,
           bot_id: int | None = None) -> Notification | None:
    """Record a notification if the user asked for this kind, and send it after commit (or hold it
    back when the user had ``NOTIFY_RATE_PER_HOUR`` in the last hour)."""
    wanted = NotificationSettings.objects.filter(owner_id=owner_id).values_list("kinds", "email", "webhook_url").first()
    if wanted is None or kind not in (wanted[0] or []) or not (wanted[1] or wanted[2]):
        return None
    recent = Notification.objects.filter(owner_id=owner_id, created_at__gte=timezone.now() - timedelta(hours=1),
                                         status__in=[NotificationStatus.PENDING, NotificationStatus.SENT]).count()
    held = recent >= settings.NOTIFY_RATE_PER_HOUR
    row = Notification.objects.create(owner_id=owner_id, bot_id=bot_id, kind=kind, title=title[:200],
                                      message=message, status=NotificationStatus.HELD if held else
                                      NotificationStatus.PENDING)
    if not held:
        transaction.on_commit(lambda: _enqueue(row.pk))
    return row


def notify_status(bot_id: int, status: str, reason: str, *, owner_id: int | None = None,
                  name: str | None = None) -> Notification | None:
    """A bot that failed, or was paused by a risk rule or the system (not by its owner's button)."""
    if status == "error":
        kind, verb = NotificationKind.ERROR, "stopped with an error"
    elif status == "paused" and "request" not in reason:
        kind, verb = NotificationKind.PAUSED, "was paused"
    else:
        return None
    if owner_id is None or name is None:
        from ..models import Bot

        found = Bot.objects.filter(pk=bot_id).values_list("owner_id", "name").first()
        if found is None:
            return None
        owner_id, name = found
    return notify(owner_id, kind, f"{name} {verb}", reason or verb, bot_id=bot_id)


def _enqueue(notification_id: int) -> None:
    """Hand delivery to Celery. In the single-machine mode (eager Celery) a local worker thread of its
    own lane stands in for the worker, so a slow webhook never blocks the caller (the engine's writer, a
    request), and a long backtest never holds up a fill's e-mail."""
    enqueue(DELIVER_TASK, notification_id, lane="notify")


def deliver_notification(notification_id: int) -> str:
    """Send one pending notification by e-mail and/or webhook; idempotent: the row is claimed with
    one conditional UPDATE first (no lock held while the mail server or webhook answers), so a
    second run, or a second worker, finds nothing to do. At most once, as a notification should be."""
    claimed = Notification.objects.filter(pk=notification_id, status=NotificationStatus.PENDING).update(
        status=NotificationStatus.SENT, sent_at=timezone.now())
    if not claimed:
        return "gone"
    row = Notification.objects.get(pk=notification_id)
    where = NotificationSettings.objects.filter(owner_id=row.owner_id).first()
    channels, errors = [], []
    if where is not None and where.email:
        try:
            send_mail(f"[Bot platform] {row.title}", f"{row.message}\n\n{row.created_at:%Y-%m-%d %H:%M:%S} UTC",
                      settings.DEFAULT_FROM_EMAIL, [where.email])
            channels.append("email")
        except Exception as exc:  # a mail server down must not lose the webhook, or the row
            errors.append(f"email: {exc}")
    if where is not None and where.webhook_url:
        try:
            _post_webhook(where.webhook_url, row)
            channels.append("webhook")
        except Exception as exc:
            errors.append(f"webhook: {exc}")
    row.channels = ",".join(channels)
    row.error = "; ".join(errors)[:255]
    row.status = NotificationStatus.SENT if channels else NotificationStatus.FAILED
    row.save(update_fields=["channels", "error", "status"])
    return row.status


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could point the webhook at an internal address after the check: never follow one."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_webhook(url: str, row: Notification) -> None:
    check_webhook_url(url)  # again at send time: the name may resolve elsewhere now
    body = json.dumps({"kind": row.kind, "title": row.title, "message": row.message, "bot_id": row.bot_id,
                       "time": row.created_at.isoformat()}).encode()
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - scheme checked above
                                     headers={"Content-Type": "application/json", "User-Agent": "botplatform"})
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=settings.NOTIFY_WEBHOOK_TIMEOUT_SECONDS) as response:
            if response.status >= 300:
                raise OSError(f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None


def recent_notifications(user: Any, limit: int = 50) -> list[Notification]:
    """The user's last notifications, newest first."""
    return list(Notification.objects.for_user(user).select_related("bot")[:limit])
