"""Backtest tests run their Celery tasks in-process (also when REDIS_URL points Celery at a broker):
they test the pages and services; ``test_worker`` and the benchmark use real worker processes."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def eager_celery(request):
    if getattr(request.module, "REAL_WORKER", False):
        yield
        return
    from botplatform.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved
