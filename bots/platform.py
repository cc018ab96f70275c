"""Background services of the single-process `run`: the engine (with the simulator, in the
default mode) and the scheduled jobs, on the web server's own asyncio loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import IO, Any

from django.conf import settings

from bots.engine_host import paper_broker, run_embedded
from bots.schedules import run_job_with, run_schedules_embedded
from bots.services.guardian import guard_positions
from bots.services.reconcile import client_factory, reconcile_orders
from marketdata.history import SERVED_REST

log = logging.getLogger("botplatform.run")


def embedded_jobs(paper: Any | None, served: dict[str, str]) -> dict[str, Callable[..., Any]]:
    """The scheduled jobs that must use this process's engine: reconciliation checks paper orders
    against its paper book, and reconciliation and the guardian call each venue where the engine
    trades on it (``served``: exchange code -> REST base, its simulator's by default), which the
    exchange rows do not name."""
    clients = client_factory(paper, served)

    def reconcile_here(full: bool = False) -> dict[str, Any]:
        return reconcile_orders(full=full, client_factory=clients).as_dict()

    def guard_here() -> dict[str, Any]:
        return guard_positions(endpoints=served).as_dict()

    return {"bots.reconcile_orders": reconcile_here, "bots.guard_positions": guard_here}


async def start_background_services(*, feeds: str, stdout: IO[str]) -> None:
    """Run the engine and the embedded beat side by side; one failing never stops the other."""
    async def guarded(name: str, coro: Awaitable[None]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped with an error", name)
            stdout.write(f"{name}: stopped with an error (see the log)\n")

    paper = paper_broker()
    # exchange code -> REST base the engine trades on (its simulator's); history downloads ask it too.
    served: dict[str, str] = SERVED_REST
    services = [guarded("engine", run_embedded(feeds=feeds, stdout=stdout, paper=paper, served=served))]
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # No broker: this process is its own Celery beat. With REDIS_URL, beat and a worker do it.
        # Reconciliation here checks paper orders against the engine's own paper book.
        run = run_job_with(embedded_jobs(paper, served))
        services.append(guarded("schedules", run_schedules_embedded(run=run)))
    await asyncio.gather(*services)
