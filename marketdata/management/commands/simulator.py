"""``manage.py simulator``: run the loopback exchange simulator until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand

from marketdata.simulator import Simulator


class Command(BaseCommand):
    """Start the simulator and print ``<venue> <websocket URL> <REST base URL>`` per venue once ready."""

    help = "Run the Binance/Coinbase/Kraken exchange simulator on loopback."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
        parser.add_argument("--replay", default=None, help="session .jsonl or CSV price path")
        parser.add_argument("--replay-venue", default="binance", help="venue a CSV price path drives")
        parser.add_argument("--replay-symbol", default=None, help="market a CSV price path drives")
        parser.add_argument("--speed", type=float, default=1.0, help="replay speed (0: as fast as possible)")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--tls", action="store_true", help="serve wss:// and https:// (self-signed)")
        parser.add_argument("--interval", type=float, default=0.1, help="seconds between model steps")

    def handle(self, *args: Any, **options: Any) -> None:
        sim = Simulator(host=options["host"], port=options["port"], seed=options["seed"], tls=options["tls"],
                        update_interval=options["interval"], replay=options["replay"], speed=options["speed"],
                        replay_venue=options["replay_venue"], replay_symbol=options["replay_symbol"])
        asyncio.run(self._serve(sim))

    async def _serve(self, sim: Simulator) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await sim.start()
        try:
            for venue, urls in sim.urls.items():
                self.stdout.write(f"{venue} {urls.ws} {urls.rest}")
            self.stdout.flush()
            if sim.cert_path:
                sys.stderr.write(f"certificate {sim.cert_path}\n")
                sys.stderr.flush()
            await stop.wait()
        finally:
            await sim.stop()
