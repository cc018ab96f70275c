"""Backtest runs and parameter sweeps (re-exported by ``bots.models``). Written only by
``bots.services.backtests``; read through ``.for_user`` (the ownership gate)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from marketdata.models import Market

from ..querysets import OwnedQuerySet


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BacktestSweep(models.Model):
    """A grid over parameter ranges: one ``BacktestRun`` per parameter set, run by Celery in chunks,
    each also replayed on the optional out-of-sample range."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_sweeps")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=8, default="1m")
    strategy = models.CharField(max_length=64)
    ranges = models.JSONField(help_text="parameter name -> list of values")
    base_params = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="capital, risk and slippage (decimal strings)")
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    oos_since = models.DateTimeField("out-of-sample from", null=True, blank=True)
    oos_until = models.DateTimeField("out-of-sample until", null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"sweep {self.pk} {self.strategy} {self.market}"


class BacktestRun(models.Model):
    """One backtest: settings, status with live progress, and the result (summary, trades, curves)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backtest_runs")
    bot = models.ForeignKey("bots.Bot", on_delete=models.SET_NULL, null=True, blank=True, related_name="backtests")
    sweep = models.ForeignKey(BacktestSweep, on_delete=models.CASCADE, null=True, blank=True, related_name="runs")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="+")
    timeframe = models.CharField(max_length=8, default="1m")
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    settings = models.JSONField(default=dict, blank=True, help_text="capital, risk and slippage (decimal strings)")
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    oos_summary = models.JSONField(default=dict, blank=True, help_text="the sweep's out-of-sample range")
    result = models.JSONField(default=dict, blank=True, help_text="trades, round trips, equity and price curves")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with each progress step while it runs: a running run whose heartbeat stopped was abandoned
    # (its worker or the platform stopped half-way) and is shown failed (``backtest_runs.reap_stale``).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "strategy"], name="backtest_owner_strategy")]

    def __str__(self) -> str:
        return f"backtest {self.pk} {self.strategy} {self.market}"
