"""A tiny loopback venue for connection/manager tests: records what clients send, pushes frames, misbehaves."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> None:
    """Poll ``predicate`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(step)


class FakeVenue:
    """WebSocket server on 127.0.0.1:0; answers Binance-style SUBSCRIBE ids when ``ack`` is set."""

    def __init__(self, ack: bool = True) -> None:
        self.ack = ack
        self.received: list[dict] = []
        self.received_at: list[float] = []
        self.clients: set[ServerConnection] = set()
        self.connections = 0
        self.refuse = False
        self.server = None
        self.url = ""

    async def start(self, path: str = "/stream") -> FakeVenue:
        def process_request(connection, request):
            if self.refuse:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down for the test\n")
            return None

        self.server = await serve(self._handler, "127.0.0.1", 0, process_request=process_request)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}{path}"
        return self

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections += 1
        self.clients.add(ws)
        try:
            async for message in ws:
                doc = json.loads(message)
                self.received.append(doc)
                self.received_at.append(time.monotonic())
                if self.ack and "id" in doc:
                    await ws.send(json.dumps({"result": None, "id": doc["id"]}))
        except Exception:  # an aborted client is normal here
            pass
        finally:
            self.clients.discard(ws)

    def subscribed_params(self, method: str = "SUBSCRIBE") -> list[str]:
        """Every stream name sent with ``method`` so far, in order."""
        return [p for doc in self.received if doc.get("method") == method for p in doc.get("params", [])]

    async def push(self, frame: str | dict) -> None:
        """Send a frame to every connected client."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        for ws in list(self.clients):
            try:
                await ws.send(text)
            except Exception:
                pass

    def drop(self) -> None:
        """Abort every client's TCP connection (no close handshake)."""
        for ws in list(self.clients):
            ws.transport.abort()

    async def stop(self) -> None:
        """Close the server."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


class FakeRest:
    """aiohttp app on 127.0.0.1:0 with routes set per test."""

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/{tail:.*}", self._handle)
        self.routes: dict[str, Callable[[web.Request], str | dict]] = {}
        self.calls: list[str] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    def route(self, path: str, body: Callable[[web.Request], str | dict]) -> None:
        """Serve ``path`` with ``body(request)`` (a dict is sent as JSON)."""
        self.routes[path] = body

    async def _handle(self, request: web.Request) -> web.Response:
        body = self.routes.get(request.path)
        if body is None:
            return web.Response(status=404, text="{}")
        self.calls.append(str(request.rel_url))
        out = body(request)
        return web.Response(text=out if isinstance(out, str) else json.dumps(out), content_type="application/json")

    async def start(self) -> FakeRest:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # aiohttp has no public accessor
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def book_ticker(symbol: str = "BTCUSDT", bid: str = "100.00", ask: str = "100.10", u: int = 1) -> str:
    """A Binance bookTicker frame on the combined stream."""
    data = {"u": u, "s": symbol, "b": bid, "B": "1", "a": ask, "A": "2"}
    return json.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": data})


def trade(symbol: str = "BTCUSDT", price: str = "100.05", t: int = 1) -> str:
    """A Binance trade frame on the combined stream."""
    return json.dumps(
        {"stream": f"{symbol.lower()}@trade", "data": {"e": "trade", "E": 1, "s": symbol, "t": t, "p": price,
                                                       "q": "0.5", "T": 1, "m": False}}
    )  # fmt: skip
