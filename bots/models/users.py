"""Per-user settings across all of a user's bots: notifications and account-wide limits."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ..fields import AmountField
from ..querysets import OwnedQuerySet
from .trading import Bot


class NotificationKind(models.TextChoices):
    FILL = "fill", "Fills"
    ERROR = "error", "Bot errors"
    PAUSED = "paused", "Bots paused by a risk rule or the system"
    DISCREPANCY = "discrepancy", "Reconciliation discrepancies"
    GUARDIAN = "guardian", "Protective stops re-placed, replaced or cancelled by the guardian"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    HELD = "held", "Held back (rate limit)"


class NotificationSettings(models.Model):
    """What a user wants to hear about, and where: e-mail and/or a webhook."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="notification_settings")
    kinds = models.JSONField(default=list, blank=True, help_text="NotificationKind values to send")
    email = models.EmailField(blank=True, help_text="Empty: no e-mail")
    webhook_url = models.URLField(max_length=500, blank=True, help_text="Empty: no webhook")
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"notifications of {self.owner}"


class Notification(models.Model):
    """One message to a user (the portal lists the last ones), and how its delivery went."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    bot = models.ForeignKey(Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications")
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    channels = models.CharField(max_length=32, blank=True, help_text="Where it went: email, webhook")
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="notification_owner_time")]

    def __str__(self) -> str:
        return f"{self.kind}: {self.title} [{self.status}]"


class UserLimitsQuerySet(OwnedQuerySet):
    owner_path = "user"


class UserLimits(models.Model):
    """One user's limits across all of their bots (empty: no limit). The engine caches them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="limits")
    max_exposure = AmountField(
        null=True, blank=True, help_text="Largest value all your bots may hold together, in the quote currency."
    )
    max_daily_loss = AmountField(
        null=True, blank=True,
        help_text="Largest loss today across all your bots (realised and unrealised); reaching it pauses them all.",
    )
    max_open_orders = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most open orders across all your bots at once."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserLimitsQuerySet.as_manager()

    class Meta:
        verbose_name = "user limits"
        verbose_name_plural = "user limits"
        constraints = [
            models.CheckConstraint(condition=Q(max_exposure__isnull=True) | Q(max_exposure__gt=0),
                                   name="user_limits_exposure_positive"),
            models.CheckConstraint(condition=Q(max_daily_loss__isnull=True) | Q(max_daily_loss__gt=0),
                                   name="user_limits_daily_loss_positive"),
        ]

    def __str__(self) -> str:
        return f"limits of {self.user}"
