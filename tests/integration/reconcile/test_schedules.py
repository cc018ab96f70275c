"""The schedule: written to django-celery-beat's tables idempotently, and run inside the single process."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from bots.models import Bot
from bots.schedules import Job, default_jobs, run_job_with, run_schedules_embedded
from bots.services.jobs import setup_schedules

TASKS = {"bots.reconcile_orders", "bots.guard_positions", "bots.watchdog", "bots.snapshot_daily_pnl",
         "bots.prune_events",
         "bots.refresh_market_catalogue", "bots.recheck_key_permissions"}


@pytest.mark.django_db
def test_migrate_alone_creates_the_default_periodic_tasks():
    assert {t.task for t in PeriodicTask.objects.all()} == TASKS  # the test database was only migrated
    call_command("migrate", verbosity=0)  # again: nothing doubles
    assert PeriodicTask.objects.count() == len(default_jobs())


@pytest.mark.django_db
def test_setup_schedules_creates_every_periodic_task_once_and_keeps_an_admins_edit(settings):
    settings.RECONCILE_INTERVAL_SECONDS = 15
    PeriodicTask.objects.all().delete()
    out = StringIO()
    call_command("setup_schedules", stdout=out)
    assert {t.task for t in PeriodicTask.objects.all()} == TASKS
    assert out.getvalue().count("created") == len(default_jobs())
    assert PeriodicTask.objects.get(name="reconcile orders (full)").kwargs == '{"full": true}'
    reconcile = PeriodicTask.objects.get(name="reconcile orders")
    assert (reconcile.interval.every, reconcile.interval.period) == (15, IntervalSchedule.SECONDS)

    edited, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    reconcile.interval = edited
    reconcile.save()
    assert {action for _, action in setup_schedules()} == {"kept"}
    assert PeriodicTask.objects.get(name="reconcile orders").interval.every == 60
    assert PeriodicTask.objects.count() == len(default_jobs())

    setup_schedules(reset=True)
    assert PeriodicTask.objects.get(name="reconcile orders").interval.every == 15


def test_every_scheduled_task_is_registered_with_celery():
    import bots.tasks  # noqa: F401
    from botplatform.celery import app

    assert {job.task for job in default_jobs()} == TASKS
    assert TASKS <= set(app.tasks)


def test_an_in_process_body_replaces_its_task_where_one_is_given():
    calls: list[bool] = []
    run = run_job_with({"bots.reconcile_orders": lambda full=False: calls.append(full) or "here"})
    assert run(Job("full pass", "bots.reconcile_orders", every=1.0, kwargs={"full": True})) == "here"
    assert calls == [True]


@pytest.mark.django_db(transaction=True)
def test_the_embedded_schedule_runs_the_jobs_inside_the_process_until_stopped(make_bot, alice, settings):
    settings.WATCHDOG_STALE_SECONDS = 60
    bot = make_bot(alice, status="running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    jobs = [Job("watchdog", "bots.watchdog", every=0.2),
            Job("never yet", "bots.prune_events", cron={"minute": "0", "hour": "0", "day_of_month": "1",
                                                       "month_of_year": "1"})]
    stop = asyncio.Event()
    seen: list[str] = []

    def status() -> str:
        from django.db import connection

        try:
            return Bot.objects.get(pk=bot.pk).status
        finally:
            connection.close()

    async def main() -> None:
        runner = asyncio.create_task(run_schedules_embedded(stop, jobs, tick=0.05))
        for _ in range(100):
            if await asyncio.to_thread(status) == "error":
                seen.append("error")
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(runner, 10)

    thread = threading.Thread(target=lambda: asyncio.run(main()))
    thread.start()
    thread.join(30)
    assert seen == ["error"]
    assert Bot.objects.get(pk=bot.pk).status_reason.startswith("No heartbeat")


EXIT_WITH_A_JOB_IN_FLIGHT = """
import asyncio, threading, time
import django
django.setup()
from bots.schedules import Job, run_schedules_embedded

started = threading.Event()

def hangs(job):  # a job waiting on a venue that no longer answers
    started.set()
    time.sleep(3600)

async def main():
    stop = asyncio.Event()
    runner = asyncio.create_task(run_schedules_embedded(stop, [Job("stuck", "x", every=60)], tick=0.05, run=hangs))
    await asyncio.to_thread(started.wait, 30)
    runner.cancel()  # the host shuts down (run's Ctrl-C)
    await asyncio.gather(runner, return_exceptions=True)
    print("main returned", flush=True)

asyncio.run(main())
"""


def test_the_process_exits_at_once_when_stopped_with_a_scheduled_job_in_flight():
    """``run`` stopped (Ctrl-C, SIGTERM) while a job waits on a venue exits without waiting for it
    (it once waited minutes for a reconciliation's requests to its own stopped simulator)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "botplatform.settings", "PYTHONPATH": str(root)}
    try:
        proc = subprocess.run([sys.executable, "-c", EXIT_WITH_A_JOB_IN_FLIGHT], cwd=root, env=env,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:  # the job holds the exit for an hour
        pytest.fail(f"the process did not exit with its job in flight: {exc.stdout!r}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "main returned" in proc.stdout
