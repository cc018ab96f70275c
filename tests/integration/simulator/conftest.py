"""One simulator for the package (reset between tests), and WebSocket helpers with bounded waits.

Test modules that use the shared ``sim`` mark themselves ``pytest.mark.asyncio(loop_scope="package")``
so their coroutines run on the loop the simulator lives on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio

from marketdata.simulator import Simulator


@pytest_asyncio.fixture(loop_scope="package", scope="package")
async def shared_sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=7, update_interval=0.05) as s:
        yield s


@pytest_asyncio.fixture(loop_scope="package")
async def sim(shared_sim: Simulator) -> AsyncIterator[Simulator]:
    await shared_sim.reset()
    yield shared_sim
    await shared_sim.reset()


async def recv_json(ws: Any, timeout: float = 5.0) -> Any:
    """The next frame, parsed."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: Any, match: Callable[[Any], bool], timeout: float = 5.0, limit: int = 2000) -> Any:
    """Frames are read until one matches; fails after ``timeout`` seconds or ``limit`` frames."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for _ in range(limit):
        frame = await recv_json(ws, max(0.01, deadline - loop.time()))
        if match(frame):
            return frame
    raise AssertionError("no matching frame")
