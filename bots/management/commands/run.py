"""`manage.py run`: the whole platform in one process for the single-machine mode.

Daphne serves the web app and WebSockets; on the same asyncio loop (daphne's Twisted asyncio
reactor) run the exchange simulator, the engine and the scheduled jobs, so the in-process
channel layer reaches all of them. In production these are separate processes (see README).
"""

from __future__ import annotations

import asyncio
import logging

import daphne.server  # noqa: F401  (installs the asyncio Twisted reactor before anything else)
from daphne.server import Server, twisted_loop
from django.conf import settings
from django.core.management.base import BaseCommand

log = logging.getLogger("botplatform.run")


class Command(BaseCommand):
    help = "Run the platform (web, engine, simulator, schedules) in one process."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-engine", action="store_true", help="Serve the web app only.")
        parser.add_argument(
            "--feeds", choices=["simulator", "live"], default=settings.MARKET_DATA_SOURCE,
            help="Market data from the built-in simulator (default) or the exchanges' public feeds.",
        )

    def handle(self, *args: object, **options: object) -> None:
        from botplatform.asgi import application

        host, port = options["host"], options["port"]
        background: list[asyncio.Task] = []
        hint = ""
        if not settings.PRODUCTION:
            from bots.services.demo import login_hint

            hint = login_hint()  # before the loop starts: the ORM is sync-only

        def ready() -> None:
            self.stdout.write(f"Platform running at http://{host}:{port}/  (admin: http://{host}:{port}/admin/)")
            if hint:
                self.stdout.write(hint)
            self.stdout.flush()
            if not options["no_engine"]:
                from bots.platform import start_background_services

                background.append(
                    twisted_loop.create_task(start_background_services(feeds=options["feeds"], stdout=self.stdout))
                )

        server = Server(
            application=application,
            endpoints=[f"tcp:port={port}:interface={host}"],
            signal_handlers=True,
            ready_callable=ready,
        )
        server.run()
