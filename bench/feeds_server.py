"""The feed benchmark's simulator side: a child process serving the simulator, driven over stdin/stdout.

``python -m bench.feeds_server --cpu N`` starts the project's simulator (market paused, so only the
benchmark's frames flow) and answers one line per command: ``firehose N`` (N pre-encoded bookTicker
frames as fast as TCP takes them), ``paced RATE SECONDS`` (frames stamped with their send time),
``steady RATE`` / ``stop`` (a background paced stream), ``drop`` (close every socket, reply with the
drop time). ``Driver`` is the client's handle on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time

SYMBOL, STREAM = "BTC/USDT", "btcusdt@bookTicker"


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


class Driver:
    """The simulator child process and its line protocol."""

    def __init__(self, cpu: int) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", "bench.feeds_server", "--cpu", str(cpu)],
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


if __name__ == "__main__":
    asyncio.run(_serve())
