"""Who runs what: worker processes and the leases they hold on bots and venue feeds.

A ``Lease`` is shaped like Kubernetes' ``coordination.k8s.io/Lease`` (holder identity, acquire time,
duration, transitions) plus a fencing ``token`` that grows on every new claim: every trading write
checks it in its own transaction, so a worker that lost a lease cannot act on it. The renew time
lives on the holder (``Worker.heartbeat_at`` / ``expires_at``): one keepalive renews all of a
worker's leases, as etcd attaches many keys to one lease. Measured reason: renewing each lease row
waited on the row locks the fence takes in the writer's transactions (renewals took 3-4 s with 100
busy bots per worker on the 2-core machine); the keepalive row is never locked by a writer.
``LeaseRecord`` is the lease history (one row per tenure), from which "never two hosts" is checked.
This app sits below ``bots`` and ``marketdata`` (both lease through it) and imports neither.
"""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q


class WorkerRole(models.TextChoices):
    ENGINE = "engine", "Engine worker"
    FEEDS = "feeds", "Feed process"


class LeaseKind(models.TextChoices):
    BOT = "bot", "Bot"
    VENUE = "venue", "Venue feed"


class WorkerQuerySet(models.QuerySet):
    def alive(self, now: datetime) -> WorkerQuerySet:
        """Workers whose keepalive has not expired: their leases hold."""
        return self.filter(stopped_at__isnull=True, expires_at__gt=now)

    def live(self, now: datetime) -> WorkerQuerySet:
        """Alive and not shutting down: the workers that take new work."""
        return self.alive(now).filter(stopping=False)


class Worker(models.Model):
    """One process (``runengine`` or ``runfeeds``): who it is, where, and when it last beat."""

    id = models.CharField(primary_key=True, max_length=80)
    role = models.CharField(max_length=8, choices=WorkerRole.choices)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    control_channel = models.CharField(max_length=100, blank=True,
                                       help_text="Channel-layer channel for control messages to this worker")
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True, help_text="Last keepalive (renews all its leases)")
    expires_at = models.DateTimeField(db_index=True, help_text="Its leases lapse then unless it beats again")
    stopping = models.BooleanField(default=False, help_text="Handing its leases over before it exits")
    stopped_at = models.DateTimeField(null=True, blank=True)
    info = models.JSONField(default=dict, blank=True, help_text="Role-specific status (feed health ...)")

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["role", "started_at"]

    def __str__(self) -> str:
        return self.id


class LeaseQuerySet(models.QuerySet):
    def held(self, now: datetime) -> LeaseQuerySet:
        """Leases whose holder is alive."""
        return self.exclude(holder_identity="").filter(holder_identity__in=Worker.objects.alive(now).values("id"))

    def claimable(self, now: datetime) -> LeaseQuerySet:
        """Free leases, and those whose holder's keepalive expired (dead, frozen or cut off)."""
        return self.filter(Q(holder_identity="") | ~Q(holder_identity__in=Worker.objects.alive(now).values("id")))


class Lease(models.Model):
    """One leased thing (a bot, a venue) and its current holder."""

    kind = models.CharField(max_length=8, choices=LeaseKind.choices)
    key = models.CharField(max_length=64)
    holder_identity = models.CharField(max_length=80, blank=True, db_index=True)
    acquire_time = models.DateTimeField(null=True, blank=True)
    lease_duration_seconds = models.FloatField(default=0)
    lease_transitions = models.PositiveIntegerField(default=0, help_text="Times the holder changed")
    token = models.BigIntegerField(default=0, help_text="Fencing token: grows on every claim")

    objects = LeaseQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="cluster_lease_kind_key")]
        ordering = ["kind", "key"]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} -> {self.holder_identity or '(free)'} #{self.token}"


class LeaseRecord(models.Model):
    """One tenure of a lease: who held it under which token, from when until when and why it ended."""

    kind = models.CharField(max_length=8, choices=LeaseKind.choices)
    key = models.CharField(max_length=64)
    holder_identity = models.CharField(max_length=80)
    token = models.BigIntegerField()
    acquired_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=32, blank=True)  # released | expired | lapsed | lost

    class Meta:
        indexes = [models.Index(fields=["kind", "key", "token"])]
        ordering = ["kind", "key", "token"]
