"""Run a :class:`Simulator` on its own event loop in a background thread, for synchronous tests."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

from .server import Simulator, VenueUrls


class SimulatorThread:
    """``with SimulatorThread(seed=7) as sim:`` gives a started simulator whose calls are thread-safe.

    Every attribute of the wrapped :class:`Simulator` is reachable; methods run on the simulator's own
    loop and return their result (coroutines are awaited there), so ``sim.set_price("binance",
    "BTC/USDT", "101.5")`` and ``sim.binance.add_account(...)`` work from plain synchronous code.
    """

    def __init__(self, timeout: float = 10.0, **kwargs: Any) -> None:
        self.timeout = timeout
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.sim: Simulator | None = None

    def start(self) -> SimulatorThread:
        """Start the thread and the simulator; return once its URLs are live."""
        self._thread = threading.Thread(target=self._main, name="exchange-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise TimeoutError("simulator did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self.sim = Simulator(**self._kwargs)
            loop.run_until_complete(self.sim.start())
        except BaseException as exc:  # report start-up failures to the waiting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.sim.stop())
        loop.close()

    def stop(self) -> None:
        """Stop the simulator and join the thread."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self.timeout)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def urls(self) -> dict[str, VenueUrls]:
        """The started simulator's URLs per venue."""
        assert self.sim is not None
        return self.sim.urls

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the simulator's loop (awaiting it if it is a coroutine)."""
        assert self._loop is not None

        async def runner() -> Any:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(self.timeout + 60)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self.sim is None:
            raise AttributeError(name)
        return _Proxy(self, getattr(self.sim, name))


class _Proxy:
    """Forwards attribute access and calls of a simulator object onto the simulator's loop."""

    def __init__(self, owner: SimulatorThread, target: Any) -> None:
        self._owner, self._target = owner, target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._owner.call(self._target, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value) or hasattr(value, "__dict__"):
            return _Proxy(self._owner, value)
        return value

    def __getitem__(self, key: Any) -> Any:
        return self._target[key]

    def __iter__(self) -> Any:
        return iter(self._target)

    def __repr__(self) -> str:
        return repr(self._target)

    def __eq__(self, other: object) -> bool:
        return bool(self._target == other)

    def __hash__(self) -> int:
        return hash(self._target)
