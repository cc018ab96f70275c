"""The Celery app: configured from Django settings (CELERY_*), tasks discovered in each app.

``enqueue`` / ``enqueue_on_commit`` are how services start work. In production they queue the task for a
worker (``delay``). In the single-machine mode (``CELERY_TASK_ALWAYS_EAGER``: no broker, no worker) a
bounded pool of local threads stands in for the worker, so a long task (a history download, a
backtest, a sweep, a slow webhook) never runs inside the request or the engine's writer that started
it: the request returns at once and the page follows the task's progress over the channel layer.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botplatform.settings")

app = Celery("botplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


def enqueue_on_commit(task_name: str, *args: object, lane: str = "tasks") -> None:
    """Queue a task by its name once the current transaction commits. Services start work this way:
    entry points (views, admin, commands) do not import the tasks modules, another entry point."""
    from django.db import transaction

    transaction.on_commit(lambda: enqueue(task_name, *args, lane=lane))


def enqueue(task_name: str, *args: object, lane: str = "tasks") -> None:
    """Queue a task now: ``delay`` for a worker, or (single-machine mode) a local worker thread of
    ``lane``. Lanes keep short work (``notify``: one thread) from waiting behind long work (``tasks``:
    ``LOCAL_TASK_THREADS`` threads). With ``LOCAL_TASK_THREADS = 0`` an eager task runs in the caller."""
    from django.conf import settings

    if task_name not in app.tasks:  # the web process imports the tasks modules on first use
        app.loader.import_default_modules()
    task = app.tasks[task_name]
    threads = 1 if lane == "notify" else settings.LOCAL_TASK_THREADS
    if settings.CELERY_TASK_ALWAYS_EAGER and threads > 0:
        _local_lane(lane, threads).put((task, args, _home_loop()))
    else:
        task.delay(*args)


_lanes: dict[str, queue.SimpleQueue[tuple[Any, tuple[object, ...], Any]]] = {}
_lanes_lock = threading.Lock()


def local_threads() -> list[threading.Thread]:
    """The local worker threads started so far (the single-machine mode's stand-in workers)."""
    return [t for t in threading.enumerate() if t.name.startswith("local-task-")]


def _local_lane(lane: str, threads: int) -> queue.SimpleQueue[tuple[Any, tuple[object, ...], Any]]:
    with _lanes_lock:
        if lane not in _lanes:
            _lanes[lane] = queue.SimpleQueue()
            for n in range(threads):  # daemon threads: stopping the platform abandons a running task,
                # as a killed worker would (a download or run left running is shown abandoned and resumes)
                threading.Thread(target=_local_worker, args=(_lanes[lane],), name=f"local-task-{lane}-{n}",
                                 daemon=True).start()
        return _lanes[lane]


def _home_loop() -> Any:
    """The event loop the caller's async_to_sync calls run on (daphne's, in ``manage.py run``), if any.
    The in-process channel layer's queues belong to that loop, so the task's pushes must go there too."""
    import asyncio

    from asgiref.sync import SyncToAsync

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid():
        return getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return None


def _local_worker(lane: queue.SimpleQueue[tuple[Any, tuple[object, ...], Any]]) -> None:
    from asgiref.sync import SyncToAsync
    from django.db import connections

    while True:
        task, args, loop = lane.get()
        # async_to_sync in this thread (the progress pushes) then runs on the caller's loop, as it does
        # inside a request, instead of on a throwaway loop of its own.
        SyncToAsync.threadlocal.main_event_loop = loop
        SyncToAsync.threadlocal.main_event_loop_pid = os.getpid() if loop is not None else None
        try:
            task.apply(args=args, throw=False)
        except Exception:  # the task records its own failure; never let one end the worker thread
            log.exception("local task %s%r failed", task.name, args)
        finally:
            connections.close_all()  # SQLite: release the file; PostgreSQL: no idle connection per thread
