"""`manage.py runfeeds`: a feed process. Leases venues (each is read by one process), holds their
exchange WebSockets and publishes normalised events to Redis for the engine workers and the web.
Run any number; SIGTERM releases the venues so another process takes them over at once."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bots.feed_host import serve_feeds


class Command(BaseCommand):
    help = "Run a market-data feed process (publishes to Redis; needs REDIS_URL)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--feeds", choices=["simulator", "live"], default=settings.MARKET_DATA_SOURCE,
                            help="Read a built-in simulator or the exchanges' public feeds.")
        parser.add_argument("--seed", type=int, default=7, help="Simulator seed (with --feeds simulator).")

    def handle(self, *args: object, **options: object) -> None:
        if not settings.REDIS_URL:
            raise CommandError("runfeeds publishes to Redis: set REDIS_URL")
        asyncio.run(self._main(str(options["feeds"]), int(options["seed"])))  # type: ignore[call-overload]

    async def _main(self, feeds: str, seed: int) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_feeds(feeds=feeds, stdout=self.stdout, stop=stop, seed=seed)
