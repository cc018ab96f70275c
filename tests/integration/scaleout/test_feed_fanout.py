"""Feed processes lease venues and publish through Redis; an engine worker trades on what they
publish; killing the process that reads a venue moves the venue and the bots' prices resume."""

from __future__ import annotations

import secrets
import signal
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from bots.models import Bot, BotEvent, Order
from bots.price_memory import CANDLES_KEY
from cluster.models import Worker
from cluster.status import venue_readers

from .conftest import needs_cluster, until

pytestmark = [needs_cluster, pytest.mark.django_db(transaction=True), pytest.mark.timeout(400)]
TICK = {"fast_period": 2, "slow_period": 3, "timeframe": "tick"}
BARS = {"fast_period": 2, "slow_period": 3, "timeframe": "1m"}
VENUES = {"binance", "coinbase", "kraken", "simulator"}


def venue_holders() -> dict[str, str]:
    return venue_readers()


def test_killing_the_feed_process_of_a_venue_moves_the_venue_and_prices_resume(processes, make_bot, alice):
    bots = [make_bot(alice, name=f"bot {i}", symbol=s, params=TICK, capital=Decimal("100000"),
                     order_size=Decimal("50"), status="running").id
            for i, s in enumerate(["BTC/USDT", "ETH/USDT", "SOL/USDT"] * 2)]
    prefix = f"md-test-{secrets.token_hex(3)}"  # pub/sub channels are not separated by Redis index
    f1 = processes.start("f1", "runfeeds", "--feeds", "simulator", MARKET_FANOUT_PREFIX=prefix)
    f2 = processes.start("f2", "runfeeds", "--feeds", "simulator", "--seed", "8", MARKET_FANOUT_PREFIX=prefix)
    ids = {p.pid: until(lambda p=p: Worker.objects.filter(pid=p.pid).values_list("id", flat=True).first(), 120)
           for p in (f1, f2)}
    until(lambda: set(venue_holders()) == VENUES and set(venue_holders().values()) == set(ids.values()), 90,
          what="each venue read by one of the two feed processes")
    # A bot on 1-minute candles warms up (and its chart backfills) from the REST of the feed process
    # reading its venue: this engine reads no venue itself (here: the feed process's own simulator).
    bars = make_bot(alice, name="bars", symbol="BTC/USDT", params=BARS, capital=Decimal("100000"),
                    order_size=Decimal("50"), status="running").id
    cache.delete(CANDLES_KEY.format(bars))  # ids repeat between runs; the cache (Redis) does not reset
    processes.start("e1", "runengine", "--feeds", "redis", "--heartbeat", "0.5", MARKET_FANOUT_PREFIX=prefix)
    until(lambda: Order.objects.filter(bot_id__in=bots).count() >= 3, 120, what="bots trade on fanned-out prices")
    until(lambda: len(cache.get(CANDLES_KEY.format(bars)) or []) >= BARS["slow_period"], 60,
          what="the bar bot's chart backfilled from the reader's klines")
    assert Bot.objects.get(pk=bars).status == "running"
    warnings = [e.data.get("message", "") for e in BotEvent.objects.filter(bot_id=bars, kind="warning")]
    assert not [w for w in warnings if "Warm-up" in w], warnings

    reader = venue_holders()["simulator"]
    victim = next(name for name, p in (("f1", f1), ("f2", f2)) if ids[p.pid] == reader)
    survivor = ids[(f2 if victim == "f1" else f1).pid]
    processes.signal(victim, signal.SIGKILL)
    processes.procs[victim].wait(10)
    until(lambda: venue_holders().get("simulator") == survivor, 60, what="the venue taken over")
    moved_at = timezone.now()
    until(lambda: Order.objects.filter(bot_id__in=bots, created_at__gt=moved_at).exists(), 120,
          what="prices resumed: the bots trade again")
    assert set(venue_holders()) == VENUES and set(venue_holders().values()) == {survivor}

    for name in ("e1", "f2" if victim == "f1" else "f1"):
        processes.signal(name, signal.SIGTERM)
        assert processes.procs[name].wait(30) == 0, processes.log(name)
        assert "Traceback" not in processes.log(name), processes.log(name)
