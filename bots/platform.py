"""Background services of the single-process `run`: the engine (with the simulator, in the
default mode) and the scheduled jobs, on the web server's own asyncio loop."""

from __future__ import annotations

import asyncio
import logging
from typing import IO

from django.conf import settings

log = logging.getLogger("botplatform.run")


async def start_background_services(*, feeds: str, stdout: IO[str]) -> None:
    """Run the engine and the embedded beat side by side; one failing never stops the other."""
    from bots.engine_host import run_embedded
    from bots.schedules import run_schedules_embedded

    async def guarded(name: str, coro: object) -> None:
        try:
            await coro  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped with an error", name)
            stdout.write(f"{name}: stopped with an error (see the log)\n")

    services = [guarded("engine", run_embedded(feeds=feeds, stdout=stdout))]
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # No broker: this process is its own Celery beat. With REDIS_URL, beat and a worker do it.
        services.append(guarded("schedules", run_schedules_embedded()))
    await asyncio.gather(*services)
