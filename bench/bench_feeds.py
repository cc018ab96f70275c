"""Market-data feed benchmark: every transport side by side, on asyncio's loop and on uvloop.

The project's simulator runs in a child process pinned to the second core (``bench/feeds_server.py``);
the clients run here, pinned to the first, so each side has one core. Every client reads the same
Binance ``bookTicker`` stream from the simulator's combined-stream endpoint:

- throughput: the simulator's firehose writes pre-encoded frames as fast as TCP takes them. The
  baseline is a bare ``picows`` + ``orjson.loads`` client on the same loop (one parse per frame in
  picows' frame callback: the ceiling a Python client reaches); ours is the whole feed path
  (receive, parse, ``Decimal``, route, dispatch) through ``MarketDataManager`` to a listener, once per
  transport. Measured in frames per CPU-second of the client's thread: other work shares this machine
  and wall-clock rates swing between identical rounds;
- latency: frames paced at 5,000/s, each stamped with its send time (``time.time_ns()``) in its
  ask-size field, so the listener (ours) or the frame callback (bare) computes send -> delivery;
- reconnect: the simulator drops our socket while it streams 1,000 frames/s; we time from the
  drop to the first frame delivered after the automatic reconnect and resubscribe;
- fault tests: the transport-parametrised fault and conformance tests run once per transport in a
  pytest child process; the row counts the passes.

Rounds alternate between the clients and the median round is kept. Run alone:
``python -m bench.bench_feeds`` (prints the rows), or ``python -m bench.run feeds`` (updates the report).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect

from bench.feeds_server import STREAM, SYMBOL, Driver

FIREHOSE = 200_000  # frames per throughput round (about a second for the bare client)
ROUNDS = 5  # throughput rounds per client, interleaved; the median is kept
RATE, SECONDS = 5_000, 3.0  # latency stream
LATENCY_ROUNDS = 3  # interleaved; the median p50/p99 is kept
WARMUP = 0.1  # share of latency samples discarded at the start
DROPS = 5
STAMP = Decimal(10**18)  # stamped frames carry time.time_ns() (> 1e18) as their ask size
LOOPS = ("asyncio", "uvloop")
ROOT = Path(__file__).resolve().parent.parent
FAULT_TESTS = ["tests/integration/feeds/test_simulator_faults.py", "tests/integration/feeds/test_transports.py",
               "tests/core/feeds/test_transport_conformance.py"]  # fmt: skip


# The closing note of the transport comparison (numbers from the three-way run of 2026-11-30, the
# last one that could measure the deleted client; the rows above are re-measured on every run).
DECISION = (
    "picows is the default transport. Measured side by side with the project's own RFC 6455 client (lean) "
    "and websockets on this 2-core shared machine, frames per CPU-second of the client thread, medians of 5 "
    "rounds: asyncio picows 475,817 vs lean 451,964 (+5 %) vs websockets 192,162; uvloop picows 461,865 vs "
    "lean 459,929 vs websockets 184,578; reconnect medians 5 / 8 / 7 ms; each passed the 88 fault and "
    "conformance tests (lean only after it learnt 37 of the 68 conformance cases it failed). The rule was: if "
    "picows is at least as fast, it becomes the default and our client goes; so fastws.py was deleted and "
    "websockets stays the fallback (FEED_TRANSPORT). Latency p99 on this loaded machine is scheduling noise "
    "(the same client's p99 ranges from 4 ms to hundreds of ms between rounds), so it did not decide. uvloop "
    "did not win on this path "
    "(within 3 % of asyncio's loop, either way), so runengine, run and feed stay on asyncio's default loop. "
    "The whole feed path reaches about 38 % of a bare picows+orjson client (2.68 vs 1.02 us of CPU per frame "
    "on asyncio in the run of 2026-11-30), short of the 90 % goal, which would leave about 0.1 us per frame "
    "beyond the bare client: less than one slotted Ticker costs in CPython. The feed cost rows above split "
    "it by stage on every run."
)


def row(name: str, value: float | None, unit: str, baseline: float | None, note: str = "") -> dict[str, Any]:
    """One result row (``ratio`` is value / baseline)."""
    ratio = round(value / baseline, 3) if value is not None and baseline else None
    out = {"name": name, "value": None if value is None else round(value, 4), "unit": unit,
           "baseline": None if baseline is None else round(baseline, 4), "ratio": ratio}  # fmt: skip
    if note:
        out["note"] = note
    return out


def _pin(cpu: int) -> set[int] | None:
    """Pin this process to one CPU when the machine has more than one; return the old set."""
    try:
        old = os.sched_getaffinity(0)
        if len(old) > 1:
            os.sched_setaffinity(0, {sorted(old)[cpu % len(old)]})
        return old
    except (AttributeError, OSError):
        return None


def run_on(loop: str, main: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine on asyncio's default loop or on uvloop."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main)
    return asyncio.run(main)


# --- bare clients (the baselines) ------------------------------------------------------------------


class _Clock:
    """Starts at the first frame, stops at the n-th: (frames per wall second, frames per CPU second)."""

    def __init__(self, n: int) -> None:
        self.n, self.count = n, 0
        self.t0 = self.c0 = 0.0
        self.done = asyncio.get_running_loop().create_future()

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:
            self.t0, self.c0 = time.perf_counter(), time.thread_time()
        elif self.count == self.n and not self.done.done():
            self.done.set_result(((self.n - 1) / (time.perf_counter() - self.t0),
                                  (self.n - 1) / (time.thread_time() - self.c0)))  # fmt: skip


async def bare_picows(driver: Driver, n: int = 0, latency: bool = False) -> Any:
    """Bare picows + orjson: throughput over ``n`` firehose frames, or latency (p50, p99) when ``latency``."""
    from picows import WSListener, WSMsgType, ws_connect

    text, loads, now_ns = WSMsgType.TEXT, orjson.loads, time.time_ns
    total = int(RATE * SECONDS)
    clock = _Clock(n) if not latency else None
    samples: list[int] = []
    finished = asyncio.get_running_loop().create_future()

    class Bare(WSListener):
        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type is not text:
                return
            data = loads(frame.get_payload_as_memoryview())
            if clock is not None:
                clock.tick()
            else:
                samples.append(now_ns() - int(data["data"]["A"]))
                if len(samples) >= total and not finished.done():
                    finished.set_result(None)

    transport, _ = await ws_connect(Bare, f"{driver.ws}?streams={STREAM}", max_frame_size=2**22)
    try:
        if clock is not None:
            await driver.ask(f"firehose {n}")
            return await asyncio.wait_for(clock.done, 60)
        await driver.ask(f"paced {RATE} {SECONDS}")
        await asyncio.wait_for(finished, 30)
        return _percentiles(samples)
    finally:
        transport.disconnect()
        await transport.wait_disconnected()


async def bare_websockets(driver: Driver, n: int) -> tuple[float, float]:
    """Bare websockets + orjson over ``n`` firehose frames (the previous baseline, for reference)."""
    ws = await connect(driver.ws, max_size=2**22)
    await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [STREAM], "id": 1}))
    await ws.recv()  # the ack
    loads = orjson.loads
    try:
        asked = asyncio.create_task(driver.ask(f"firehose {n}"))
        await ws.recv()  # the first frame starts the clocks
        t0, c0, count = time.perf_counter(), time.thread_time(), 1
        while count < n:
            loads(await ws.recv())
            count += 1
        elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
        await asked
        return (n - 1) / elapsed, (n - 1) / cpu
    finally:
        await ws.close()


# --- our feed path ------------------------------------------------------------------------------------


async def _manager(driver: Driver, kind: str):
    from marketdata.exchanges.base import Endpoint
    from marketdata.feeds.connection import ConnectionSettings
    from marketdata.feeds.fallback import FallbackSettings
    from marketdata.feeds.manager import MarketDataManager
    from marketdata.feeds.transport import make_transport

    return MarketDataManager(
        endpoints={"binance": Endpoint(ws=driver.ws, rest=driver.rest)},
        settings=ConnectionSettings(connect_timeout=5),
        fallback=FallbackSettings(enabled=False),
        transport=make_transport(kind),
    )


async def _with_listener(driver: Driver, kind: str, listener: Callable, go: Callable) -> Any:
    from marketdata.feeds.types import Subscription

    mgr = await _manager(driver, kind)
    try:
        await mgr.subscribe(Subscription("binance", "ticker", SYMBOL), listener)
        await mgr.wait_connected("binance", 10)
        return await go(mgr)
    finally:
        await mgr.close()


async def our_throughput(driver: Driver, n: int, kind: str) -> tuple[float, float]:
    """(frames per wall second, frames per CPU second) through the manager to a listener."""
    clock = _Clock(n)

    async def go(mgr: Any) -> tuple[float, float]:
        await driver.ask(f"firehose {n}")
        return await asyncio.wait_for(clock.done, 120)

    return await _with_listener(driver, kind, lambda event: clock.tick(), go)


def _percentiles(samples: list[int]) -> tuple[float, float]:
    kept = sorted(samples[int(len(samples) * WARMUP) :])
    return kept[len(kept) // 2] / 1e6, kept[min(len(kept) - 1, len(kept) * 99 // 100)] / 1e6


async def our_latency(driver: Driver, kind: str) -> tuple[float, float]:
    """p50/p99 ms from simulator send to our listener."""
    samples: list[int] = []
    total = int(RATE * SECONDS)
    done = asyncio.Event()

    def listener(event: Any) -> None:
        if event.ask_size < STAMP:  # a 24 h ticker, not one of the stamped frames
            return
        samples.append(time.time_ns() - int(event.ask_size))
        if len(samples) >= total:
            done.set()

    async def go(mgr: Any) -> None:
        await driver.ask(f"paced {RATE} {SECONDS}")
        await asyncio.wait_for(done.wait(), 30)

    await _with_listener(driver, kind, listener, go)
    return _percentiles(samples)


async def reconnect_times(driver: Driver, kind: str) -> list[float]:
    """Seconds from a server-side drop to the first frame after reconnect + resubscribe."""
    state: dict[str, Any] = {"armed": False, "first": None}
    got = asyncio.Event()

    def listener(event: Any) -> None:
        if state["armed"] and state["first"] is None:
            state["first"] = time.time_ns()
            got.set()

    def on_event(event: Any) -> None:
        if event.kind == "disconnected":
            state["armed"] = True

    async def go(mgr: Any) -> list[float]:
        mgr.add_event_listener(on_event)
        out = []
        await driver.ask("steady 1000")
        for _ in range(DROPS):
            await asyncio.sleep(2.5)  # let the connection count as healthy (immediate first retry)
            state.update(armed=False, first=None)
            got.clear()
            dropped = int((await driver.ask("drop"))[1])
            await asyncio.wait_for(got.wait(), 30)
            out.append((state["first"] - dropped) / 1e9)
        await driver.ask("stop")
        return out

    return await _with_listener(driver, kind, listener, go)


def stage_costs(reps: int = 40) -> dict[str, float]:
    """Microseconds per frame of each stage after the socket, measured alone on this thread (the best of
    ``reps`` passes over firehose-like frames, CPU time): ``loads`` (orjson.loads, all the bare client
    does), ``parse`` (our venue parse to a ``Ticker`` with its Decimals, beyond ``loads``) and ``route``
    (the router's lookup, counters and one listener call)."""
    from marketdata.exchanges.binance import BinanceAdapter
    from marketdata.feeds.manager import Route, Router
    from marketdata.feeds.types import Subscription

    frames = [f'{{"stream":"{STREAM}","data":{{"u":{i},"s":"BTCUSDT","b":"60000.01000000","B":"1.00000000",'
              f'"a":"60000.02000000","A":"{i % 97 + 1}.00000000"}}}}'.encode() for i in range(2000)]  # fmt: skip
    sub = Subscription("binance", "ticker", SYMBOL)
    router = Router()
    router.routes["ticker"][SYMBOL] = route = Route(sub)
    route.listeners = (lambda e: None,)
    alone = BinanceAdapter().new_session(lambda e: None, [sub]).feed
    routed = BinanceAdapter().new_session(router.dispatch, [sub]).feed
    loads, now = orjson.loads, time.time_ns

    def only_loads() -> None:
        for f in frames:
            loads(f)

    def parse() -> None:
        for f in frames:
            alone(f, now())

    def parse_and_route() -> None:
        for f in frames:
            routed(f, now())

    # The three are interleaved, one pass of each per rep, so a slow minute of a shared machine weighs on
    # all of them alike (measured one after the other, the routed pass once came out cheaper than parsing).
    stages = (only_loads, parse, parse_and_route)
    fastest = [float("inf")] * len(stages)
    for _ in range(reps):
        for i, passes in enumerate(stages):
            c0 = time.thread_time()
            passes()
            fastest[i] = min(fastest[i], time.thread_time() - c0)
    t_loads, t_parse, t_routed = (f / len(frames) * 1e6 for f in fastest)
    return {"loads": t_loads, "parse": t_parse - t_loads, "route": t_routed - t_parse}


def parse_only() -> float:
    """Frames/s of parse + normalise + dispatch alone (no socket), for profiling."""
    from marketdata.exchanges.binance import BinanceAdapter
    from marketdata.feeds.manager import Route, Router
    from marketdata.feeds.types import Subscription

    router = Router()
    router.routes["ticker"][SYMBOL] = route = Route(Subscription("binance", "ticker", SYMBOL))
    route.listeners = (lambda e: None,)
    session = BinanceAdapter().new_session(router.dispatch, [Subscription("binance", "ticker", SYMBOL)])
    frames = [f'{{"stream":"{STREAM}","data":{{"u":{i},"s":"BTCUSDT","b":"60000.0{i % 10}000000","B":"1.00000000",'
              f'"a":"60000.02000000","A":"{i % 97 + 1}.00000000"}}}}'.encode() for i in range(1000)]  # fmt: skip
    n, t0 = 0, time.perf_counter()
    now = time.time_ns
    while time.perf_counter() - t0 < 1.0:
        for f in frames:
            session.feed(f, now())
        n += len(frames)
    return n / (time.perf_counter() - t0)


async def _measure(sim_cpu: int, transports: tuple[str, ...], reconnect: bool) -> dict[str, Any]:
    """Every client's throughput rounds, latency rounds and (if ``reconnect``) reconnect times."""
    driver = Driver(sim_cpu)
    out: dict[str, Any] = {"tp": {}, "lat": {}}
    clients: dict[str, Callable] = {"bare picows": lambda: bare_picows(driver, FIREHOSE),
                                    "bare websockets": lambda: bare_websockets(driver, FIREHOSE)}  # fmt: skip
    for kind in transports:
        clients[kind] = lambda kind=kind: our_throughput(driver, FIREHOSE, kind)
    lat_clients: dict[str, Callable] = {"bare picows": lambda: bare_picows(driver, latency=True)}
    for kind in transports:
        lat_clients[kind] = lambda kind=kind: our_latency(driver, kind)
    try:
        for _ in range(ROUNDS):
            for name, client in clients.items():
                out["tp"].setdefault(name, []).append(await client())
        for _ in range(LATENCY_ROUNDS):
            for name, client in lat_clients.items():
                out["lat"].setdefault(name, []).append(await client())
        if reconnect:  # dominated by the handshake and the backoff rule, not the loop: measured once
            out["drops"] = {kind: await reconnect_times(driver, kind) for kind in transports}
    finally:
        driver.close()
    return out


def fault_tests(kind: str) -> tuple[int, int, float]:
    """(passed, selected, seconds) of the transport-parametrised fault and conformance tests for ``kind``."""
    t0 = time.monotonic()
    proc = subprocess.run(  # noqa: S603 - our own test suite, fixed arguments
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", f"via_{kind}", *FAULT_TESTS],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    counts = {k: int(v) for v, k in re.findall(r"(\d+) (passed|failed|error|errors|skipped)", tail)}
    selected = sum(counts.values())
    return counts.get("passed", 0), selected, time.monotonic() - t0


def _median_round(rounds: list[tuple[float, float]], i: int) -> float:
    return statistics.median(r[i] for r in rounds)


def _stage_rows(tp: dict[str, list[tuple[float, float]]], stages: dict[str, float], loop: str) -> list[dict[str, Any]]:
    """Where a frame's CPU time goes on ``loop``: the two clients' measured cost per frame, and ours by stage
    (loads, parse and route measured alone; the picows share is the bare client's cost beyond loads; the
    transport and connection share is what remains)."""
    from marketdata.feeds.transport import DEFAULT_TRANSPORT

    bare = 1e6 / _median_round(tp["bare picows"], 1)
    ours = 1e6 / _median_round(tp[DEFAULT_TRANSPORT], 1)
    parts = {
        "picows: read, frame, callback (bare client minus loads)": bare - stages["loads"],
        "orjson.loads": stages["loads"],
        "our transport checks and the connection's counters (the rest)":
            ours - bare - stages["parse"] - stages["route"],
        "venue parse to a Ticker with Decimals, beyond loads": stages["parse"],
        "routing and one listener call": stages["route"],
    }
    note = (f"microseconds of CPU per frame on {loop}: bare picows+orjson {bare:.2f}, our {DEFAULT_TRANSPORT} path "
            f"{ours:.2f}; loads, parse and routing measured alone (no socket), the rest derived from the rounds")
    return [row(f"feed cost per frame, {name}, {loop}", us, "us", None, note) for name, us in parts.items()]


def _rows(results: dict[str, dict[str, Any]], faults: dict[str, tuple[int, int, float]],
          stages: dict[str, float]) -> list[dict[str, Any]]:
    from marketdata.feeds.transport import DEFAULT_TRANSPORT

    out = []
    for loop, res in results.items():
        tp, lat = res["tp"], res["lat"]
        ceiling = _median_round(tp["bare picows"], 1)
        bare_rounds = [round(r[1]) for r in tp["bare picows"]]
        note = (f"frames per CPU-second of the client's thread, median of {ROUNDS} interleaved rounds on {loop}; "
                f"baseline = bare picows+orjson on the same loop (its rounds {bare_rounds})")
        out.append(row(f"feed throughput, bare picows+orjson, {loop}", ceiling, "msg/s", None,
                       f"the ceiling; wall-clock median {_median_round(tp['bare picows'], 0):,.0f} msg/s"))
        for name, rounds in tp.items():
            if name == "bare picows":
                continue
            label = "bare websockets+orjson" if name == "bare websockets" else f"{name} transport"
            default = " (default)" if name == DEFAULT_TRANSPORT else ""
            out.append(row(f"feed throughput, {label}{default}, {loop}", _median_round(rounds, 1), "msg/s", ceiling,
                           f"{note}; its rounds {[round(r[1]) for r in rounds]}; wall-clock median "
                           f"{_median_round(rounds, 0):,.0f} msg/s"))
        out.extend(_stage_rows(tp, stages, loop))
        bare_p50, bare_p99 = (statistics.median(r[i] for r in lat["bare picows"]) for i in (0, 1))
        out.append(row(f"feed latency p99, bare picows+orjson, {loop}", bare_p99, "ms", None,
                       f"{RATE} msg/s for {SECONDS} s, median of {LATENCY_ROUNDS}; p50 {bare_p50:.3f} ms"))
        for name, rounds in lat.items():
            if name == "bare picows":
                continue
            p50, p99 = (statistics.median(r[i] for r in rounds) for i in (0, 1))
            default = " (default)" if name == DEFAULT_TRANSPORT else ""
            out.append(row(f"feed latency p99, {name} transport{default}, {loop}", p99, "ms", bare_p99,
                           f"{RATE} msg/s for {SECONDS} s, median of {LATENCY_ROUNDS}; p50 {p50:.3f} ms "
                           f"(bare {bare_p50:.3f}); p99 rounds {[round(r[1], 3) for r in rounds]}; baseline = bare "
                           f"picows+orjson on the same loop"))
        for name, drops in res.get("drops", {}).items():
            out.append(row(f"reconnect to first message, {name} transport, {loop}", statistics.median(drops), "s",
                           1.0, f"server drops the socket while streaming 1,000 frames/s; median of {DROPS} drops "
                           f"(max {max(drops):.3f} s); target < 1 s"))
    for kind, (passed, selected, seconds) in faults.items():
        out.append(row(f"fault and conformance tests passed, {kind} transport", passed, "tests", selected,
                       f"pytest -k via_{kind} over {', '.join(FAULT_TESTS)}; {seconds:.0f} s"))
    out.append(row("feed parse+dispatch only", parse_only(), "msg/s", None, "bookTicker frames, no socket"))
    out.append(row("transport decision: picows default, websockets fallback", None, "", None, DECISION))
    return out  # fmt: skip


def run() -> list[dict[str, Any]]:
    """Benchmark rows; the client runs pinned to one core, the simulator to another."""
    from marketdata.feeds.transport import TRANSPORTS

    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = [0]
    sim_cpu = cpus[1] if len(cpus) > 1 else -1
    old = _pin(0)
    results: dict[str, dict[str, Any]] = {}
    try:
        for loop in LOOPS:
            results[loop] = run_on(loop, _measure(sim_cpu, TRANSPORTS, reconnect=loop == LOOPS[0]))
        stages = stage_costs()  # on the same pinned core as the clients
    finally:
        if old:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, old)
    faults = {kind: fault_tests(kind) for kind in TRANSPORTS} if os.environ.get("BENCH_FAULT_TESTS", "1") != "0" else {}
    return _rows(results, faults, stages)


if __name__ == "__main__":
    for r in run():
        print(r)
