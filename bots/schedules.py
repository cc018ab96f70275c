"""The default schedule as data: what runs when. Celery beat takes it from the database
(``manage.py setup_schedules`` writes it there, where the admin can edit it); the single-process
``run`` of the embedded default runs the same jobs with ``run_schedules_embedded``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from celery.schedules import crontab, schedule
from django.conf import settings
from django.db import connection

from botplatform.celery import app

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """One periodic task: every ``every`` seconds, or on a crontab (UTC) given as its five fields."""

    name: str
    task: str
    every: float | None = None
    cron: dict[str, str] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def celery_schedule(self) -> schedule:
        """The equivalent Celery schedule (used by the embedded runner to decide when it is due)."""
        if self.every is not None:
            return schedule(timedelta(seconds=self.every))
        return crontab(**self.cron)


def default_jobs() -> list[Job]:
    """The platform's periodic jobs; the reconcile interval comes from ``RECONCILE_INTERVAL_SECONDS``."""
    return [
        Job("reconcile orders", "bots.reconcile_orders",
            every=settings.RECONCILE_INTERVAL_SECONDS,
            description="Bring every non-final order to the exchange's truth"),
        Job("reconcile orders (full)", "bots.reconcile_orders", kwargs={"full": True},
            every=settings.RECONCILE_FULL_INTERVAL_SECONDS,
            description="Also scan recent trades (unknown and late fills) and check positions against balances"),
        Job("protective stops guardian", "bots.guard_positions", every=settings.GUARDIAN_INTERVAL_SECONDS,
            description="Every live position that needs one has exactly one protective stop on the exchange"),
        Job("bot heartbeat watchdog", "bots.watchdog", every=settings.WATCHDOG_INTERVAL_SECONDS,
            description="Running bots with a stale heartbeat go to error; owners are told"),
        Job("daily P&L snapshot", "bots.snapshot_daily_pnl", cron={"minute": "55"},
            description="Hourly refresh of today's P&L row per bot (the 23:55 run closes the day)"),
        Job("prune old events", "bots.prune_events", cron={"minute": "17", "hour": "3"},
            description="Delete bot and order events older than EVENT_RETENTION_DAYS"),
        Job("market catalogue refresh", "bots.refresh_market_catalogue", cron={"minute": "7", "hour": "*/6"},
            description="Upsert the catalogue and take the venues' trading rules"),
        Job("API key permission check", "bots.recheck_key_permissions", cron={"minute": "23", "hour": "4"},
            description="Ask each venue what every key may do; pause live bots whose key can now withdraw"),
    ]


def run_job(job: Job) -> Any:
    """Run one job's task body in this thread (as eager Celery would); the thread's database
    connection is closed after each job (jobs are seconds apart; an idle connection would outlive
    the schedule)."""
    try:
        if job.task not in app.tasks:  # tasks register when Celery imports the apps' tasks modules
            app.loader.import_default_modules()
        return app.tasks[job.task].apply(kwargs=job.kwargs, throw=False).result
    finally:
        connection.close()


JobRunner = Callable[[Job], Any]


def run_job_with(bodies: Mapping[str, Callable[..., Any]]) -> JobRunner:
    """A runner that calls ``bodies[job.task](**job.kwargs)`` where given, else the task: for task bodies
    that need this process's objects, which a Celery task cannot take (e.g. the engine's paper book)."""

    def run(job: Job) -> Any:
        body = bodies.get(job.task)
        if body is None:
            return run_job(job)
        try:
            return body(**job.kwargs)
        finally:
            connection.close()

    return run


async def run_schedules_embedded(stop: asyncio.Event | None = None, jobs: list[Job] | None = None,
                                 tick: float = 1.0, run_at_start: bool = True, run: JobRunner = run_job) -> None:
    """Run the schedule inside this process until ``stop`` is set (the embedded default's beat).

    Jobs run one at a time, each in a thread (``in_daemon_thread``), so the SQLite writer is never
    contended by two jobs, and a slow job delays the next rather than piling up; every failure is
    logged and the loop goes on.
    """
    stop = stop or asyncio.Event()
    jobs = jobs if jobs is not None else default_jobs()
    sched = {job.name: job.celery_schedule() for job in jobs}
    last: dict[str, datetime] = {}
    if jobs:
        now = datetime.now(sched[jobs[0].name].tz)
        for job in jobs:
            # interval jobs are due at start; crontab ones wait for their time
            last[job.name] = (now - timedelta(days=1)) if (run_at_start and job.every is not None) else now
    while not stop.is_set():
        for job in jobs:
            due, _ = sched[job.name].is_due(last[job.name])
            if not due or stop.is_set():
                continue
            last[job.name] = sched[job.name].now()
            try:
                await in_daemon_thread(run, job)
            except Exception:  # a failing job must not stop the schedule
                log.exception("scheduled job %r failed", job.name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=tick)
        except TimeoutError:
            pass


async def in_daemon_thread(fn: Callable[[Job], Any], job: Job) -> Any:
    """``fn(job)`` in a daemon thread of its own. Not an executor's thread: the interpreter joins those
    at exit, so one job waiting on a venue (a reconciliation's requests to a simulator that stopped with
    the process: up to 10 s each, retried) kept ``run`` from exiting for minutes after Ctrl-C. A job cut
    short at exit loses nothing: its writes are transactions, and the next run takes it up again."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def target() -> None:
        if not future.set_running_or_notify_cancel():  # the host stopped waiting before it began
            return
        try:
            future.set_result(fn(job))
        except BaseException as exc:  # handed to the awaiting loop, as an executor would
            future.set_exception(exc)

    threading.Thread(target=target, name=f"schedules: {job.name}", daemon=True).start()
    return await asyncio.wrap_future(future)  # the loop is told from the thread safely, even once closed
