"""Celery tasks of the bots app: thin entry points, each one service call.

They take JSON ids only, are idempotent (a second run finds nothing left to do) and have time limits;
beat runs them on the schedule of ``bots.schedules`` (an entry point that enqueues one uses
``delay_on_commit``, so the task never runs before the rows it reads are committed).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from .services import jobs
from .services.reconcile import reconcile_orders as reconcile_orders_service

# A pass must finish well inside its interval's multiple; the soft limit lets it end cleanly.
RECONCILE_LIMITS = {"soft_time_limit": 90, "time_limit": 120}
DB_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 3}


@shared_task(name="bots.reconcile_orders", ignore_result=True, **RECONCILE_LIMITS, **DB_RETRY)
def reconcile_orders(account_id: int | None = None, full: bool = False) -> dict[str, Any]:
    """Reconcile every due order (or one account's) with its exchange; ``full`` also scans trades and balances."""
    return reconcile_orders_service(account_ids=None if account_id is None else [account_id], full=full).as_dict()


@shared_task(name="bots.watchdog", ignore_result=True, soft_time_limit=30, time_limit=60, **DB_RETRY)
def watchdog() -> list[int]:
    """Running bots with a stale heartbeat go to error; their owners are told."""
    return jobs.mark_stale_bots()


@shared_task(name="bots.snapshot_daily_pnl", ignore_result=True, soft_time_limit=120, time_limit=180, **DB_RETRY)
def snapshot_daily_pnl() -> int:
    """Refresh today's P&L row of every bot with a position."""
    return jobs.snapshot_daily_pnl()


@shared_task(name="bots.prune_events", ignore_result=True, soft_time_limit=240, time_limit=300, **DB_RETRY)
def prune_events() -> dict[str, int]:
    """Delete old bot and order events."""
    return jobs.prune_events()


@shared_task(name="bots.refresh_market_catalogue", ignore_result=True, soft_time_limit=60, time_limit=90,
             **DB_RETRY)
def refresh_market_catalogue() -> dict[str, int]:
    """Upsert the catalogue and take the venues' current trading rules."""
    return jobs.refresh_market_catalogue()
