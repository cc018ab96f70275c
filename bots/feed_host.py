"""``runfeeds``: a feed process. It leases venues like engine workers lease bots (each venue is
read by one process), holds those venues' exchange WebSockets in the pooled ``MarketDataManager``
and publishes the normalised events to Redis (``marketdata.fanout``) for whoever subscribes.

The venue lease is also a local fence: the publisher drops a venue's events once the lease's
expiry (as this process last renewed it) has passed on its monotonic clock, so a feed process
frozen past its lease publishes nothing for the venue another process took over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import IO, Any

from asgiref.sync import sync_to_async
from django.conf import settings

from cluster import leases
from cluster.models import LeaseKind, WorkerRole
from marketdata.fanout import FanoutPublisher
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.transport import make_transport

from . import events
from .engine_host import Venues, database_venues, simulator_venues
from .reader_history import advertised
from .workers import DbThread, LeaseSettings, worker_identity

log = logging.getLogger(__name__)


class FeedWorker:
    """Venue leases + the manager + the Redis publisher, for one ``runfeeds`` process."""

    def __init__(self, venues: Venues, redis_url: str, prefix: str, *, lease: LeaseSettings | None = None,
                 identity: str | None = None) -> None:
        self.venues = venues
        self.lease = lease or LeaseSettings.from_settings()
        self.id = identity or worker_identity(WorkerRole.FEEDS)
        self.manager = MarketDataManager(endpoints=venues.endpoints, adapters=venues.adapters,
                                         transport=make_transport(settings.FEED_TRANSPORT))
        self.publisher = FanoutPublisher(self.manager, redis_url, prefix)
        self.db = DbThread("feed-lease")
        self.held: dict[str, int] = {}
        # Where this process reads each venue: engines on the fan-out warm bots up from that REST.
        self.endpoints = advertised(venues.endpoints, {c: venues.adapter(c).name for c in venues.endpoints})
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> list[str]:
        """Register, take a first share of the venues, start publishing. Returns the venues held."""
        await self.db(leases.register_worker, self.id, WorkerRole.FEEDS, socket.gethostname(), os.getpid(), "",
                      self.lease.duration)
        await self.db(leases.reap_dead_local_workers, socket.gethostname())
        await self.publisher.start()
        await self.round()
        self._tasks = [asyncio.create_task(self._rounds()),
                       asyncio.create_task(events.publish_feed_health_forever(self.manager.metrics))]
        return sorted(self.held)

    async def _rounds(self) -> None:
        while True:
            await asyncio.sleep(self.lease.interval)
            try:
                await self.round()
            except Exception:
                log.exception("feed worker %s: lease round failed", self.id)

    async def round(self) -> None:
        """Beat (with health), renew, claim and hand over venues; point the publisher at them."""
        started = time.monotonic()  # before the renewal: the local deadline errs on the safe side
        info = {"venues": sorted(self.held), "health": self._venue_health(),
                "published": self.publisher.published, "endpoints": self.endpoints}
        await self.db(leases.beat_worker, self.id, info, duration=self.lease.duration)
        plan = await self.db(leases.balance, self.id, WorkerRole.FEEDS, LeaseKind.VENUE,
                             set(self.venues.endpoints), duration=self.lease.duration,
                             max_claims=len(self.venues.endpoints), max_moves=1, sort_key=str)
        lost = set(self.held) - set(plan.held)
        if lost:
            log.warning("feed worker %s: no longer reading %s: the lease was taken over", self.id, sorted(lost))
        keep = {v: t for v, t in plan.held.items() if v not in plan.hand_over and v not in plan.unwanted}
        self.publisher.set_venues(keep, started + self.lease.duration)
        if set(keep) != set(self.held):
            await self.publisher.sync_demand()  # subscribe or drop at once, not at the next poll
        gone = {v: t for v, t in plan.held.items() if v not in keep}
        if gone:
            await self.db(leases.release, self.id, LeaseKind.VENUE, gone, "handed over")
        if plan.claimed:
            log.info("feed worker %s: now reading %s", self.id, sorted(plan.claimed))
        self.held = keep

    def _venue_health(self) -> dict[str, Any]:
        health = self.manager.health()
        return {v: {"status": health[v].get("status"), "reason": health[v].get("reason", "")}
                for v in self.held if v in health}

    async def stop(self) -> None:
        """Stop publishing, release the venues (another process takes them at once), close."""
        for task in self._tasks:
            task.cancel()
        self.publisher.set_venues(())
        await self.publisher.close()
        if self.held:
            with contextlib.suppress(Exception):
                await self.db(leases.release, self.id, LeaseKind.VENUE, self.held, "released")
        with contextlib.suppress(Exception):
            await self.db(leases.retire_worker, self.id)
        await self.db.close()
        await self.manager.close()


async def serve_feeds(*, feeds: str, stdout: IO[str], stop: asyncio.Event, seed: int = 7) -> None:
    """Run a feed process until ``stop`` is set. ``feeds="simulator"`` starts a loopback simulator."""
    sim = None
    if feeds == "simulator":
        from marketdata.simulator.server import Simulator

        sim = await Simulator(host="127.0.0.1", port=0, seed=seed).start()
        venues = simulator_venues(sim.urls)
    else:
        venues = await sync_to_async(database_venues)()
    worker = FeedWorker(venues, settings.REDIS_URL, settings.MARKET_FANOUT_PREFIX)
    try:
        held = await worker.start()
        stdout.write(f"feeds: worker {worker.id} reading {', '.join(held) or 'no venue yet'} "
                     f"(of {', '.join(sorted(venues.endpoints))}), publishing to Redis\n")
        stdout.flush()
        await stop.wait()
    finally:
        await worker.stop()
        if sim is not None:
            await sim.stop()
        stdout.write("feeds: stopped\n")
        stdout.flush()
