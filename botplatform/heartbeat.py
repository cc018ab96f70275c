"""The one rule for work a task does on a row (a history download, a backtest run): it writes the row's
``heartbeat_at`` with each progress step, so a row still "running" whose heartbeat (before its first,
its creation) is older than ``STALE_AFTER`` was abandoned: its worker was killed, or the platform
stopped half-way. Such a row is shown failed with the reason (``reap``), and the task's redelivery
(Celery, late acknowledgement) may take it over (``stale``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet

# A progress step is seconds at most (a page of candles, a few thousand bars): silent this long is dead.
STALE_AFTER = timedelta(minutes=3)


def stale(cutoff: datetime) -> Q:
    """Rows whose last sign of life is older than ``cutoff``."""
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)


def reap(running: QuerySet[Any], reason: Callable[[datetime], str], older_than: timedelta = STALE_AFTER,
         failed: str = "failed") -> list[Any]:
    """Mark failed, with ``reason(last sign of life)``, each row of ``running`` whose heartbeat stopped;
    returns those rows (updated). A row is changed only while it is still the same stale run: a
    redelivered task may have just taken it over."""
    now = datetime.now(UTC)
    reaped = []
    for row in running.filter(stale(now - older_than)):
        error = reason(row.heartbeat_at or row.created_at)
        if type(row)._default_manager.filter(pk=row.pk, status=row.status, heartbeat_at=row.heartbeat_at).update(
                status=failed, error=error, finished_at=now):
            row.status, row.error, row.finished_at = failed, error, now
            reaped.append(row)
    return reaped
