"""Engine benchmark: tick-to-decision latency with 1,000 paper bots on 100 symbols at 10,000 ticks/s,
and the memory and CPU cost of an idle bot.

"Tick to decision" is measured from the moment the feed listener receives a ticker to the moment
every bot subscribed to that (exchange, symbol) has been evaluated (exits, strategy, risk and,
when it fires, the order handed to its task). The feed is a direct in-process dispatcher, so the
number isolates the engine; "frame to decision" feeds the same load as raw Binance frames through
the venue's parser and the manager's router (everything a socket read runs, but the read). Orders go
to the real paper broker; the store is an in-memory no-op, as the real store only enqueues.

Run alone: ``python -m bench.bench_engine``.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import tracemalloc
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bots.engine.brokers import PaperBroker
from bots.engine.engine import Engine, EngineConfig
from bots.engine.ports import SystemClock
from bots.engine.types import BotSpec, MarketRules, RiskSettings
from marketdata.feeds.types import Instrument, Subscription, Ticker

BOTS, SYMBOLS, RATE, SECONDS = 1000, 100, 10_000, 3.0
D = Decimal


class DirectFeeds:
    """The manager's routing without a socket: one listener list per (exchange, channel, symbol)."""

    def __init__(self) -> None:
        self.listeners: dict[Subscription, list[Any]] = {}

    async def subscribe(self, sub: Subscription, listener: Any) -> Any:
        self.listeners.setdefault(sub, []).append(listener)
        return (sub, listener)

    async def unsubscribe(self, handle: Any) -> None:
        sub, listener = handle
        self.listeners[sub].remove(listener)


class NullStore:
    created = 0

    async def create_order(self, order: Any) -> None:
        NullStore.created += 1

    def update_order(self, *a: Any, **k: Any) -> None: ...
    def record_fill(self, *a: Any, **k: Any) -> None: ...
    def save_position(self, *a: Any, **k: Any) -> None: ...
    def set_status(self, *a: Any, **k: Any) -> None: ...
    def heartbeat(self, *a: Any, **k: Any) -> None: ...


class NullEvents:
    def emit(self, *a: Any, **k: Any) -> None: ...


STRATEGIES = [
    ("crossover", {"fast_period": 5, "slow_period": 20, "timeframe": "tick"}),
    ("rsi", {"period": 14, "timeframe": "tick"}),
    ("grid", {"lower": "95", "upper": "105", "levels": 11, "amount_per_level": "50"}),
    ("dca", {"amount": "20", "interval_seconds": 3600}),
    ("crossover", {"fast_period": 9, "slow_period": 21, "average": "ema", "timeframe": "1m"}),
]


def make_spec(i: int, symbols: list[str]) -> BotSpec:
    name, params = STRATEGIES[i % len(STRATEGIES)]
    return BotSpec(id=i + 1, owner_id=1, name=f"b{i}", instrument=Instrument("binance", symbols[i % len(symbols)]),
                   strategy=name, params=params, capital=D(1000),
                   risk=RiskSettings(order_size=D(100), stop_loss_pct=D(2), take_profit_pct=D(3),
                                     trailing_stop_pct=D(1), max_daily_loss=D(500), cooldown_seconds=1),
                   rules=MarketRules(D("0.01"), D("0.0001"), D("10")))


def make_engine() -> tuple[Engine, DirectFeeds]:
    clock = SystemClock()
    feeds = DirectFeeds()
    engine = Engine(clock=clock, feeds=feeds, store=NullStore(), events=NullEvents(),
                    paper=PaperBroker(clock), config=EngineConfig(price_interval=1.0))
    return engine, feeds


async def latency() -> list[float]:
    symbols = [f"S{i:03d}/USDT" for i in range(SYMBOLS)]
    engine, feeds = make_engine()
    for i in range(BOTS):
        await engine.start_bot(make_spec(i, symbols))
    listeners = [feeds.listeners[Subscription("binance", "ticker", s)][0] for s in symbols]
    rng = random.Random(7)
    prices = [D(100)] * SYMBOLS
    # Pre-build the tickers (parsing is the feed's cost, measured by the market-data benchmark).
    ticks: list[tuple[int, Ticker]] = []
    total = int(RATE * SECONDS)
    for _ in range(total):
        k = rng.randrange(SYMBOLS)
        prices[k] = max(D(90), min(D(110), prices[k] + D(rng.randint(-20, 20)) / 100))
        p = prices[k]
        ticks.append((k, Ticker("binance", symbols[k], p - D("0.01"), p + D("0.01"), p, D(1), D(1), D(1000), None, 0)))
    samples: list[float] = []
    per_ms = RATE // 1000
    start = time.perf_counter()
    gc.collect()
    for batch in range(0, total, per_ms):
        due = start + batch / RATE
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)  # let order tasks run, as the real loop would between reads
        for k, t in ticks[batch:batch + per_ms]:
            t.receive_ns = t0 = time.perf_counter_ns()
            listeners[k](t)
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    elapsed = time.perf_counter() - start
    await engine.stop()
    samples.sort()
    return [samples[len(samples) // 2], samples[int(len(samples) * 0.99)], total / elapsed,
            float(NullStore.created)]


async def frame_to_decision() -> list[float]:
    """The same load, but starting from raw Binance ``bookTicker`` frames: the venue's parser and the
    manager's router (the code a socket read runs) feed the engine. Latency: frame in hand -> every
    bot on its symbol evaluated."""
    from marketdata.exchanges.binance.feed import BinanceAdapter
    from marketdata.feeds.manager import Route as FeedRoute
    from marketdata.feeds.manager import Router, SubscriptionHandle

    symbols = [f"S{i:03d}/USDT" for i in range(SYMBOLS)]
    engine, feeds = make_engine()
    for i in range(BOTS):
        await engine.start_bot(make_spec(i, symbols))
    router = Router()
    subs = []
    for n, sym in enumerate(symbols):
        sub = Subscription("binance", "ticker", sym)
        route = router.routes["ticker"][sym] = FeedRoute(sub)
        route.handles[n] = SubscriptionHandle(n, sub, feeds.listeners[sub][0])
        route.rebuild()
        subs.append(sub)
    adapter = BinanceAdapter()
    session = adapter.new_session(router.dispatch, subs)
    rng = random.Random(11)
    prices = [100.0] * SYMBOLS  # only to script the frames' text; the engine parses it to Decimal
    frames: list[bytes] = []
    total = int(RATE * SECONDS)
    for u in range(total):
        k = rng.randrange(SYMBOLS)
        prices[k] = max(90.0, min(110.0, prices[k] + rng.randint(-20, 20) / 100))
        venue = adapter.to_venue(symbols[k])
        bid, ask = f"{prices[k] - 0.01:.2f}", f"{prices[k] + 0.01:.2f}"
        frames.append(b'{"stream":"%s@bookTicker","data":{"u":%d,"s":"%s","b":"%s","B":"1.5","a":"%s","A":"2.5"}}'
                      % (venue.lower().encode(), u, venue.encode(), bid.encode(), ask.encode()))
    samples: list[float] = []
    per_ms = RATE // 1000
    gc.collect()
    start = time.perf_counter()
    for batch in range(0, total, per_ms):
        delay = start + batch / RATE - time.perf_counter()
        await asyncio.sleep(delay if delay > 0 else 0)
        for frame in frames[batch:batch + per_ms]:
            t0 = time.perf_counter_ns()
            session.feed(frame, time.time_ns())
            samples.append((time.perf_counter_ns() - t0) / 1e6)
    await engine.stop()
    samples.sort()
    return [samples[len(samples) // 2], samples[int(len(samples) * 0.99)]]


async def idle_memory() -> float:
    symbols = [f"S{i:03d}/USDT" for i in range(SYMBOLS)]
    engine, _ = make_engine()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(BOTS):
        await engine.start_bot(make_spec(i, symbols))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    await engine.stop()
    return used / BOTS / 1024


async def idle_cpu(seconds: float = 3.0) -> float:
    async def cpu_with(n: int) -> float:
        symbols = [f"S{i:03d}/USDT" for i in range(SYMBOLS)]
        engine, _ = make_engine()
        engine.config.heartbeat_interval = 1.0
        await engine.start()
        for i in range(n):
            await engine.start_bot(make_spec(i, symbols))
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        used, wall = time.process_time() - c0, time.perf_counter() - w0
        await engine.stop()
        return used / wall

    base = await cpu_with(0)
    loaded = await cpu_with(BOTS)
    return max(0.0, loaded - base) / BOTS * 100


def row(name: str, value: float, unit: str, target: float) -> dict[str, Any]:
    return {"name": name, "value": round(value, 6), "unit": unit, "baseline": target,
            "ratio": round(value / target, 4) if target else None}


def run() -> list[dict[str, Any]]:
    """The benchmark rows (baselines are the issue's targets)."""
    p50, p99, achieved, orders = asyncio.run(latency())
    f50, f99 = asyncio.run(frame_to_decision())
    memory = asyncio.run(idle_memory())
    cpu = asyncio.run(idle_cpu())
    return [
        row("tick to decision p50", p50, "ms", 2.0),
        row("tick to decision p99", p99, "ms", 2.0),
        row("engine ticks per second achieved", achieved, "ticks/s", float(RATE)),
        {"name": "engine orders during latency run", "value": orders, "unit": "orders", "baseline": None,
         "ratio": None},
        row("frame to decision p50 (binance parser + router)", f50, "ms", 2.0),
        row("frame to decision p99 (binance parser + router)", f99, "ms", 2.0),
        row("memory per idle bot", memory, "KB", 100.0),
        row("cpu per idle bot", cpu, "% of a core", 0.01),
    ]


if __name__ == "__main__":
    print(datetime.now(UTC).isoformat())
    for r in run():
        print(f"{r['name']:<36} {r['value']:>12} {r['unit']:<12} target {r['baseline']}")
