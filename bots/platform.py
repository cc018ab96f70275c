"""Background services of the single-process `run`: simulator, engine and scheduled jobs.

Each piece is started only if its package is present, so the web app runs while the rest lands.
"""

from __future__ import annotations

import logging
from typing import IO

log = logging.getLogger("botplatform.run")


async def start_background_services(*, feeds: str, stdout: IO[str]) -> None:
    """Start what the embedded default runs next to the web app; logs and keeps going on failure."""
    try:
        from bots.engine_host import run_embedded  # provided by the engine work
    except ImportError:
        stdout.write("engine: not available yet (web app only)\n")
        return
    await run_embedded(feeds=feeds, stdout=stdout)
