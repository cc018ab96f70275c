"""What reconciliation and the daily books record: differences between the venue and our rows, and
each bot's end-of-day P&L."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ..fields import AmountField
from ..querysets import OwnedQuerySet
from .trading import Bot, ExchangeAccount, Order


class DiscrepancyKind(models.TextChoices):
    UNKNOWN_ORDER = "unknown_order_on_exchange", "Order on the exchange we do not know"
    MISSED_FILL = "missed_fill", "Fill we had missed (recorded by reconciliation)"
    UNKNOWN_FILL = "unknown_fill", "Fill on the exchange for an order we do not know"
    STATUS_CONFLICT = "status_conflict", "Order final here but still open on the exchange"
    POSITION_MISMATCH = "position_mismatch", "Exchange balance differs from our positions"


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", "Open"
    ADOPTED = "adopted", "Adopted"
    IGNORED = "ignored", "Ignored"
    FLATTENED = "flattened", "Flattened"


class DiscrepancyQuerySet(OwnedQuerySet):
    owner_path = "owner"

    def unresolved(self) -> DiscrepancyQuerySet:
        return self.filter(status=DiscrepancyStatus.OPEN)


class Discrepancy(models.Model):
    """A difference between the exchange's truth and our rows, found by reconciliation.

    ``key`` names the difference (account or bot, kind, exchange ids) so finding it again never
    makes a second row, and an ignored one stays ignored.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="discrepancies")
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies"
    )
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, null=True, blank=True, related_name="discrepancies")
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="discrepancies")
    kind = models.CharField(max_length=32, choices=DiscrepancyKind.choices)
    key = models.CharField(max_length=200, unique=True)
    symbol = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN)
    resolution = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = DiscrepancyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "discrepancies"
        indexes = [models.Index(fields=["owner", "status"], name="discrepancy_owner_status")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} [{self.status}] {self.symbol}"


class DailyPnlSnapshotQuerySet(OwnedQuerySet):
    owner_path = "bot__owner"


class DailyPnlSnapshot(models.Model):
    """A bot's P&L at the end of one UTC day: realised (cumulative), unrealised and equity."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="pnl_snapshots")
    date = models.DateField()
    realized = AmountField(default=0)
    unrealized = AmountField(default=0)
    equity = AmountField(default=0)
    mark_price = AmountField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DailyPnlSnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "bot_id"]
        constraints = [models.UniqueConstraint(fields=["bot", "date"], name="pnl_snapshot_one_per_bot_day")]

    def __str__(self) -> str:
        return f"{self.bot} {self.date}: {self.equity}"
