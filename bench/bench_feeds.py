"""Market-data feed benchmark: our receive + parse + normalise + dispatch against a bare client.

The project's simulator runs in a child process pinned to the second core; the clients run here,
pinned to the first, so each side has one core. Both clients read the same Binance ``bookTicker``
stream from the simulator's combined-stream endpoint:

- throughput: the simulator's firehose writes pre-encoded frames as fast as TCP takes them; the
  bare client is ``websockets`` + ``orjson.loads`` per frame (the ceiling), ours is the full
  ``MarketDataManager`` path to a listener;
- latency: frames paced at 5,000/s, each stamped with its send time (``time.time_ns()``) in its
  ask-size field, so the listener (ours) or the loop body (bare) computes send -> delivery;
- reconnect: the simulator drops our socket while it streams 1,000 frames/s; we time from the
  drop to the first frame delivered after the automatic reconnect and resubscribe.

Run alone: ``python -m bench.bench_feeds`` (prints the rows).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import orjson
from websockets.asyncio.client import connect

SYMBOL, STREAM = "BTC/USDT", "btcusdt@bookTicker"
FIREHOSE = 200_000  # frames per throughput round (about a second for the bare client)
ROUNDS = 3  # alternate bare/ours; the best round of each is kept (other work shares this machine)
RATE, SECONDS = 5_000, 3.0  # latency stream
LATENCY_ROUNDS = 2  # alternate bare/ours; the round with the lower p99 of each is kept
WARMUP = 0.1  # share of latency samples discarded at the start
DROPS = 5
STAMP = Decimal(10**18)  # stamped frames carry time.time_ns() (> 1e18) as their ask size


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


# --- the simulator side (child process) ---------------------------------------------------------


def _frame(payload: str) -> bytes:
    from marketdata.simulator.wire import ws_text_frame

    return ws_text_frame(payload)


async def _serve() -> None:
    from marketdata.simulator import Simulator

    cpu = int(sys.argv[sys.argv.index("--cpu") + 1]) if "--cpu" in sys.argv else -1
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    sim = await Simulator(host="127.0.0.1", port=0, seed=3, update_interval=0.5).start()
    sim.paused = True  # only the benchmark's frames flow
    venue = sim.binance
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", sim.urls["binance"].stream, sim.urls["binance"].rest, flush=True)
    steady: asyncio.Task | None = None

    def targets() -> list:
        return [c for c in venue.subscribers.get(STREAM, ()) if not c.closed and c.request.transport]

    async def wait_subscribed() -> None:
        deadline = time.monotonic() + 10
        while not targets() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def paced(rate: float, seconds: float | None) -> int:
        start, sent = time.perf_counter(), 0
        while seconds is None or sent < rate * seconds:
            due = int((time.perf_counter() - start) * rate) + 1
            while sent < due:
                ns = time.time_ns()
                data = _frame(f'{{"stream":"{STREAM}","data":{{"u":{sent},"s":"BTCUSDT","b":"60000.01000000",'
                              f'"B":"1.00000000","a":"60000.02000000","A":"{ns}"}}}}')  # fmt: skip
                for conn in targets():
                    conn.request.transport.write(data)
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        return sent

    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "quit":
            break
        cmd = line[0]
        if cmd == "firehose":
            await wait_subscribed()
            n = await venue.firehose(SYMBOL, int(line[1]))
            print("DONE", n, flush=True)
        elif cmd == "paced":
            await wait_subscribed()
            n = await paced(float(line[1]), float(line[2]))
            print("DONE", n, flush=True)
        elif cmd == "steady":
            await wait_subscribed()
            steady = loop.create_task(paced(float(line[1]), None))
            print("DONE", 0, flush=True)
        elif cmd == "drop":
            await wait_subscribed()
            ns = time.time_ns()
            n = venue.drop_connections()
            print("DROPPED", ns, n, flush=True)
        elif cmd == "stop" and steady is not None:
            steady.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await steady
            print("DONE", 0, flush=True)
    await sim.stop()


# --- the client side ------------------------------------------------------------------------------


class Driver:
    """The simulator child process and its line protocol."""

    def __init__(self, cpu: int) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "bench.bench_feeds", "--serve", "--cpu", str(cpu)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )  # fmt: skip
        ready = self._read(30).split()
        if not ready or ready[0] != "READY":
            raise RuntimeError(f"simulator did not start: {ready}")
        self.ws, self.rest = ready[1], ready[2]

    def _read(self, timeout: float) -> str:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise TimeoutError("simulator did not answer")
        return self.proc.stdout.readline().strip()

    async def ask(self, command: str, timeout: float = 60) -> list[str]:
        """Send a command, wait (off the loop) for its one-line answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return (await asyncio.to_thread(self._read, timeout)).split()

    def close(self) -> None:
        """Stop the child."""
        with contextlib.suppress(Exception):
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


async def _bare_connect(url: str):
    ws = await connect(url, max_size=2**22)
    await ws.send(json.dumps({"method": "SUBSCRIBE", "params": [STREAM], "id": 1}))
    await ws.recv()  # the ack
    return ws


async def bare_throughput(driver: Driver, n: int) -> tuple[float, float]:
    """(frames per wall second, frames per CPU second of the loop thread) of websockets + orjson."""
    ws = await _bare_connect(driver.ws)
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


async def _manager(driver: Driver, transport: Any = None):
    from marketdata.exchanges.base import Endpoint
    from marketdata.feeds.connection import ConnectionSettings
    from marketdata.feeds.fallback import FallbackSettings
    from marketdata.feeds.manager import MarketDataManager

    return MarketDataManager(
        endpoints={"binance": Endpoint(ws=driver.ws, rest=driver.rest)},
        settings=ConnectionSettings(connect_timeout=5),
        fallback=FallbackSettings(enabled=False),
        transport=transport,
    )


async def our_throughput(driver: Driver, n: int, transport: Any = None) -> tuple[float, float]:
    """(frames per wall second, frames per CPU second) through the manager to a listener."""
    from marketdata.feeds.types import Subscription

    mgr = await _manager(driver, transport)
    state = {"count": 0, "t0": 0.0, "t1": 0.0, "c0": 0.0, "c1": 0.0}
    done = asyncio.Event()

    def listener(event) -> None:
        state["count"] += 1
        if state["count"] == 1:
            state["t0"], state["c0"] = time.perf_counter(), time.thread_time()
        elif state["count"] == n:
            state["t1"], state["c1"] = time.perf_counter(), time.thread_time()
            done.set()

    try:
        await mgr.subscribe(Subscription("binance", "ticker", SYMBOL), listener)
        await mgr.wait_connected("binance", 10)
        await driver.ask(f"firehose {n}")
        await asyncio.wait_for(done.wait(), 120)
        return (n - 1) / (state["t1"] - state["t0"]), (n - 1) / (state["c1"] - state["c0"])
    finally:
        await mgr.close()


def _percentiles(samples: list[int]) -> tuple[float, float]:
    kept = sorted(samples[int(len(samples) * WARMUP):])
    return kept[len(kept) // 2] / 1e6, kept[min(len(kept) - 1, len(kept) * 99 // 100)] / 1e6


async def bare_latency(driver: Driver) -> tuple[float, float]:
    """p50/p99 ms from simulator send to the bare client's parsed frame."""
    ws = await _bare_connect(driver.ws)
    samples: list[int] = []
    total = int(RATE * SECONDS)
    try:
        asked = asyncio.create_task(driver.ask(f"paced {RATE} {SECONDS}"))
        while len(samples) < total:
            d = orjson.loads(await ws.recv())
            samples.append(time.time_ns() - int(d["data"]["A"]))
        await asked
    finally:
        await ws.close()
    return _percentiles(samples)


async def our_latency(driver: Driver, transport: Any = None) -> tuple[float, float]:
    """p50/p99 ms from simulator send to our listener."""
    from marketdata.feeds.types import Subscription

    mgr = await _manager(driver, transport)
    samples: list[int] = []
    total = int(RATE * SECONDS)
    done = asyncio.Event()

    def listener(event) -> None:
        if event.ask_size < STAMP:  # a 24 h ticker, not one of the stamped frames
            return
        samples.append(time.time_ns() - int(event.ask_size))
        if len(samples) >= total:
            done.set()

    try:
        await mgr.subscribe(Subscription("binance", "ticker", SYMBOL), listener)
        await mgr.wait_connected("binance", 10)
        await driver.ask(f"paced {RATE} {SECONDS}")
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await mgr.close()
    return _percentiles(samples)


async def reconnect_times(driver: Driver) -> list[float]:
    """Seconds from a server-side drop to the first frame after reconnect + resubscribe."""
    from marketdata.feeds.types import Subscription

    mgr = await _manager(driver)
    state: dict[str, Any] = {"armed": False, "first": None}
    got = asyncio.Event()

    def listener(event) -> None:
        if state["armed"] and state["first"] is None:
            state["first"] = time.time_ns()
            got.set()

    def on_event(event) -> None:
        if event.kind == "disconnected":
            state["armed"] = True

    mgr.add_event_listener(on_event)
    out = []
    try:
        await mgr.subscribe(Subscription("binance", "ticker", SYMBOL), listener)
        await mgr.wait_connected("binance", 10)
        await driver.ask("steady 1000")
        for _ in range(DROPS):
            await asyncio.sleep(2.5)  # let the connection count as healthy (immediate first retry)
            state.update(armed=False, first=None)
            got.clear()
            dropped = int((await driver.ask("drop"))[1])
            await asyncio.wait_for(got.wait(), 30)
            out.append((state["first"] - dropped) / 1e9)
        await driver.ask("stop")
    finally:
        await mgr.close()
    return out


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
              f'"a":"60000.02000000","A":"{i % 97 + 1}.00000000"}}}}' for i in range(1000)]  # fmt: skip
    n, t0 = 0, time.perf_counter()
    now = time.time_ns
    while time.perf_counter() - t0 < 1.0:
        for f in frames:
            session.feed(f, now())
        n += len(frames)
    return n / (time.perf_counter() - t0)


async def _main(sim_cpu: int) -> list[dict[str, Any]]:
    from marketdata.feeds.transport import DEFAULT_TRANSPORT, make_transport

    other = "websockets" if DEFAULT_TRANSPORT == "lean" else "lean"
    driver = Driver(sim_cpu)
    try:
        bare, ours, lean = [], [], []
        for _ in range(ROUNDS):
            bare.append(await bare_throughput(driver, FIREHOSE))
            ours.append(await our_throughput(driver, FIREHOSE, make_transport(DEFAULT_TRANSPORT)))
            lean.append(await our_throughput(driver, FIREHOSE, make_transport(other)))
        bare_lats, our_lats, lean_lats = [], [], []
        for _ in range(LATENCY_ROUNDS):
            bare_lats.append(await bare_latency(driver))
            our_lats.append(await our_latency(driver, make_transport(DEFAULT_TRANSPORT)))
            lean_lats.append(await our_latency(driver, make_transport(other)))
        drops = await reconnect_times(driver)
    finally:
        driver.close()
    cpu_ceiling = max(b[1] for b in bare)
    wall_ceiling = max(b[0] for b in bare)
    bare_lat, our_lat, lean_lat = (min(x, key=lambda p: p[1]) for x in (bare_lats, our_lats, lean_lats))

    def rounds(xs: list, i: int, digits: int | None = None) -> str:
        return str([round(x[i], digits) for x in xs])

    cpu_note = (f"frames per CPU-second of the client's loop thread (one core), best of {ROUNDS}; baseline = bare "
                f"websockets+orjson on the same firehose (its rounds {rounds(bare, 1)}); CPU time, because other "
                f"work shares this machine and wall-clock rates swing 3x between identical rounds")  # fmt: skip
    lat_note = f"{RATE} msg/s for {SECONDS} s, best of {LATENCY_ROUNDS} by p99; baseline = bare websockets client's"
    return [
        row("feed throughput", max(o[1] for o in ours), "msg/s", cpu_ceiling,
            f"default ({DEFAULT_TRANSPORT}) transport, rounds {rounds(ours, 1)}; {cpu_note}"),
        row(f"feed throughput, {other} transport", max(o[1] for o in lean), "msg/s", cpu_ceiling,
            f"the other transport, rounds {rounds(lean, 1)}; {cpu_note}"),
        row("feed throughput (wall clock)", max(o[0] for o in ours), "msg/s", wall_ceiling,
            f"frames per wall second, best of {ROUNDS}; rounds bare {rounds(bare, 0)}, ours {rounds(ours, 0)}"),
        row("feed latency p50", our_lat[0], "ms", bare_lat[0], f"{lat_note} p50"),
        row("feed latency p99", our_lat[1], "ms", bare_lat[1],
            f"{lat_note} p99; p99 rounds bare {rounds(bare_lats, 1, 3)}, ours {rounds(our_lats, 1, 3)}"),
        row(f"feed latency p99, {other} transport", lean_lat[1], "ms", bare_lat[1],
            f"{lat_note} p99; its p50 {lean_lat[0]:.3f} ms; rounds {rounds(lean_lats, 1, 3)}"),
        row("reconnect to first message", statistics.median(drops), "s", 1.0,
            f"server drops the socket while streaming 1,000 frames/s; median of {DROPS} drops "
            f"(max {max(drops):.3f} s); target < 1 s"),
        row("feed parse+dispatch only", parse_only(), "msg/s", None, "bookTicker frames, no socket (profiling aid)"),
    ]  # fmt: skip


def run() -> list[dict[str, Any]]:
    """Benchmark rows; the client runs pinned to one core, the simulator to another."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = [0]
    sim_cpu = cpus[1] if len(cpus) > 1 else -1
    old = _pin(0)
    try:
        return asyncio.run(_main(sim_cpu))
    finally:
        if old:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, old)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(_serve())
    else:
        for r in run():
            print(r)
