"""``manage.py feed``: print one venue's normalised market-data events (JSON lines or a table)."""

from __future__ import annotations

import asyncio

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from marketdata.exchanges.base import Endpoint
from marketdata.exchanges.registry import ADAPTERS, get_adapter
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.serialize import event_to_dict
from marketdata.feeds.transport import TRANSPORTS, make_transport
from marketdata.feeds.types import CHANNELS, Subscription

TABLE = "{type:<12} {exchange:<9} {symbol:<10} {summary}"


def _summary(row: dict) -> str:
    keys = ("bid", "ask", "last", "price", "quantity", "side", "close", "sequence")
    parts = [f"{k}={row[k]}" for k in keys if row.get(k) not in (None, [])]
    if row["type"] in ("BookSnapshot", "BookUpdate"):
        parts.append(f"bids={len(row['bids'])} asks={len(row['asks'])}")
    return " ".join(parts)


class Command(BaseCommand):
    help = "Stream normalised events from one exchange (or the simulator's URLs) to stdout."

    def add_arguments(self, parser):
        parser.add_argument("--exchange", required=True, choices=sorted(ADAPTERS))
        parser.add_argument("--symbols", required=True, help="comma separated unified symbols, e.g. BTC/USDT")
        parser.add_argument("--channels", default="ticker", help=f"comma separated: {','.join(CHANNELS)}")
        parser.add_argument("--url", help="WebSocket URL override (e.g. the simulator's)")
        parser.add_argument("--rest-url", help="REST base URL override")
        parser.add_argument("--limit", type=int, default=0, help="stop after N events (0: run until Ctrl-C)")
        parser.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
        parser.add_argument("--transport", choices=TRANSPORTS, default=settings.FEED_TRANSPORT,
                            help="WebSocket client: picows (the default) or the websockets library")

    def handle(self, *args, **opts):
        channels = [c.strip() for c in opts["channels"].split(",") if c.strip()]
        unknown = sorted(set(channels) - set(CHANNELS))
        if unknown:
            raise CommandError(f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(CHANNELS)}")
        symbols = [s.strip().upper() for s in opts["symbols"].split(",") if s.strip()]
        default = get_adapter(opts["exchange"]).default_endpoint
        endpoint = Endpoint(ws=opts["url"] or default.ws, rest=opts["rest_url"] or default.rest)
        subs = [Subscription(opts["exchange"], c, s) for c in channels for s in symbols]
        try:
            transport = make_transport(opts["transport"])
            asyncio.run(self._run(endpoint, subs, opts["limit"], opts["format"], transport))
        except KeyboardInterrupt:
            pass

    async def _run(self, endpoint: Endpoint, subs: list[Subscription], limit: int, fmt: str, transport) -> None:
        mgr = MarketDataManager(endpoints={subs[0].exchange: endpoint}, transport=transport)
        done = asyncio.Event()
        count = 0
        out = self.stdout

        def show(event) -> None:
            nonlocal count
            if done.is_set():
                return
            row = event_to_dict(event)
            line = orjson.dumps(row).decode() if fmt == "jsonl" else TABLE.format(summary=_summary(row), **row)
            out.write(line)
            out.flush()
            count += 1
            if limit and count >= limit:
                done.set()

        mgr.add_event_listener(lambda e: self.stderr.write(f"# {e.kind} {e.exchange} {e.detail}"))
        try:
            for sub in subs:
                await mgr.subscribe(sub, show)
            await done.wait()
        finally:
            await mgr.close()
