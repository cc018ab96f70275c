"""`manage.py runengine`: the trading engine as a Channels worker process.

Hosts the market-data manager and every active bot in one asyncio loop, takes control messages on
``settings.ENGINE_CONTROL_CHANNEL`` of the channel layer (Redis in production), and stops cleanly
on SIGTERM or SIGINT: in-flight orders finish, queued writes are flushed, sockets are closed.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from bots.engine.engine import EngineConfig
from bots.engine_host import serve


class Command(BaseCommand):
    help = "Run the trading engine (a Channels worker on the engine control channel)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--feeds", choices=["simulator", "live", "redis"], default=settings.MARKET_DATA_SOURCE,
                            help="Market data from a built-in simulator, the exchanges' public feeds, or the "
                                 "feed processes (runfeeds) through Redis.")
        parser.add_argument("--seed", type=int, default=7, help="Simulator seed (with --feeds simulator).")
        parser.add_argument("--heartbeat", type=float, default=5.0, help="Seconds between bot heartbeats.")

    def handle(self, *args: object, **options: Any) -> None:
        config = EngineConfig(heartbeat_interval=float(options["heartbeat"]))
        asyncio.run(self._main(str(options["feeds"]), int(options["seed"]), config))

    async def _main(self, feeds: str, seed: int, config: EngineConfig) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(feeds=feeds, stdout=self.stdout, stop=stop, seed=seed, config=config)
