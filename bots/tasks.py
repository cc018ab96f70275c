"""Celery tasks of the bots app: thin entry points, each one service call.

They take JSON ids only, are idempotent (a second run finds nothing left to do) and have time limits;
beat runs them on the schedule of ``bots.schedules`` (an entry point that enqueues one uses
``delay_on_commit``, so the task never runs before the rows it reads are committed).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import DatabaseError

from .services import accounts, backtest_runs, jobs, notifications
from .services.guardian import guard_positions as guard_positions_service
from .services.reconcile import reconcile_orders as reconcile_orders_service

# A pass must finish well inside its interval's multiple; the soft limit lets it end cleanly.
RECONCILE_LIMITS = {"soft_time_limit": 90, "time_limit": 120}
DB_RETRY = {"autoretry_for": (DatabaseError,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 3}


@shared_task(name="bots.reconcile_orders", ignore_result=True, **RECONCILE_LIMITS, **DB_RETRY)
def reconcile_orders(account_id: int | None = None, full: bool = False) -> dict[str, Any]:
    """Reconcile every due order (or one account's) with its exchange; ``full`` also scans trades and balances."""
    return reconcile_orders_service(account_ids=None if account_id is None else [account_id], full=full).as_dict()


@shared_task(name="bots.guard_positions", ignore_result=True, soft_time_limit=20, time_limit=30, **DB_RETRY)
def guard_positions() -> dict[str, Any]:
    """Every live position that should be protected has exactly one protective stop on its exchange."""
    return guard_positions_service().as_dict()


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


@shared_task(name="bots.recheck_key_permissions", ignore_result=True, soft_time_limit=240, time_limit=300,
             **DB_RETRY)
def recheck_key_permissions() -> dict[str, int]:
    """Re-check every exchange key's permissions; pause live bots whose key gained withdrawal rights."""
    return accounts.recheck_key_permissions()


@shared_task(name="bots.deliver_notification", ignore_result=True, soft_time_limit=30, time_limit=60, **DB_RETRY)
def deliver_notification(notification_id: int) -> str:
    """Send one notification by e-mail and/or webhook (the service claims it first: idempotent)."""
    return notifications.deliver_notification(notification_id)


# Backtests: a year of minutes replays in about ten seconds; a sweep chunk (10 parameter sets over one
# pass of history, plus the out-of-sample range) in about a minute on a busy core.
BACKTEST_LIMITS = {"soft_time_limit": 1500, "time_limit": 1800}


@shared_task(name="bots.run_backtest", ignore_result=True, acks_late=True, **BACKTEST_LIMITS)
def run_backtest(run_id: int) -> str:
    """Run one pending backtest; its progress and result go to the owner live."""
    return backtest_runs.execute_run(run_id)


@shared_task(name="bots.run_sweep_chunk", ignore_result=True, acks_late=True, **BACKTEST_LIMITS)
def run_sweep_chunk(run_ids: list[int]) -> int:
    """Run a chunk of a sweep's parameter sets in one pass over the history."""
    return backtest_runs.execute_sweep_chunk(run_ids)
