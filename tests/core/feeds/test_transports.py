"""Every feed transport speaks RFC 6455 with a real server (the ``websockets`` library's) and runs the manager."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.server import serve

from marketdata.exchanges.base import Endpoint
from marketdata.feeds.manager import MarketDataManager
from marketdata.feeds.transport import HandshakeFailed, TransportClosed, make_transport
from marketdata.feeds.types import Subscription

from .fakes import FakeVenue, book_ticker, wait_until

OPEN = {"max_frame_bytes": 8 * 1024 * 1024, "ping_interval": 0, "ping_timeout": 0}


async def _server(handler, **kw):
    server = await serve(handler, "127.0.0.1", 0, **kw)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/x?y=1"


def _bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


async def test_frames_both_ways_fragments_and_big_messages(kind: str) -> None:
    got: list = []

    async def handler(ws):
        async for message in ws:  # the server checks our masking: a bad mask closes the connection
            got.append(json.loads(message))
            await ws.send('{"a":1}')
            await ws.send(["{\"frag", "mented\":", "true}"])  # one message in three frames
            await ws.send("x" * 3_000_000)  # a Coinbase-sized snapshot
            await ws.send(b"\x00\x01")

    server, url = await _server(handler, max_size=None)
    sock = await make_transport(kind).open(url, **OPEN)
    try:
        await sock.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}))
        assert _bytes(await sock.recv()) == b'{"a":1}'
        assert _bytes(await sock.recv()) == b'{"fragmented":true}'
        assert len(await sock.recv()) == 3_000_000
        assert await sock.recv() == b"\x00\x01"
        assert got == [{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}]
    finally:
        await sock.close()
        server.close()


async def test_serve_pushes_every_message_then_raises_when_the_peer_closes(kind: str) -> None:
    async def handler(ws):
        for i in range(500):
            await ws.send(f'{{"n":{i}}}')
        await ws.close(4001, "bye")

    server, url = await _server(handler)
    sock = await make_transport(kind).open(url, **OPEN)
    got: list = []
    with pytest.raises(sock.closed_errors, match="4001"):
        await asyncio.wait_for(sock.serve(lambda m: got.append(json.loads(m)["n"])), 5)
    assert got == list(range(500))
    sock.abort()
    server.close()


async def test_a_reader_that_raises_ends_serve_with_its_error(kind: str) -> None:
    async def handler(ws):
        await ws.send("first")
        await asyncio.sleep(2)

    def reader(message: str | bytes) -> None:
        raise RuntimeError("reader bug")

    server, url = await _server(handler)
    sock = await make_transport(kind).open(url, **OPEN)
    with pytest.raises(RuntimeError, match="reader bug"):
        await asyncio.wait_for(sock.serve(reader), 5)
    sock.abort()
    server.close()


async def test_frames_over_the_limit_close_the_socket(kind: str) -> None:
    async def handler(ws):
        await ws.send("y" * 2000)
        await asyncio.sleep(1)

    server, url = await _server(handler)
    sock = await make_transport(kind).open(url, max_frame_bytes=1000, ping_interval=0, ping_timeout=0)
    with pytest.raises(sock.closed_errors):
        await asyncio.wait_for(sock.recv(), 3)
    server.close()


async def test_server_pings_are_answered_and_our_pings_are_ponged(kind: str) -> None:
    async def handler(ws):
        await asyncio.sleep(1.0)
        await ws.send("still here")

    # The server drops clients that do not answer its pings within 0.2 s.
    server, url = await _server(handler, ping_interval=0.1, ping_timeout=0.2)
    sock = await make_transport(kind).open(url, max_frame_bytes=1000, ping_interval=0.1, ping_timeout=0.5)
    try:
        assert _bytes(await asyncio.wait_for(sock.recv(), 3)) == b"still here"
    finally:
        await sock.close()
        server.close()


async def test_a_silent_peer_is_dropped_after_the_pong_timeout(kind: str) -> None:
    async def handler(ws):
        ws.transport.pause_reading()  # never reads our ping, so never pongs
        await asyncio.sleep(3)

    # The server's own close handshake cannot complete either (it reads nothing): a short close timeout
    # ends it instead of the default 10 s that the test's teardown would wait for.
    server, url = await _server(handler, close_timeout=0.5)
    sock = await make_transport(kind).open(url, max_frame_bytes=1000, ping_interval=0.2, ping_timeout=0.3)
    with pytest.raises(sock.closed_errors):  # websockets then waits up to 2 s for the close handshake
        await asyncio.wait_for(sock.recv(), 4)
    sock.abort()
    server.close()


async def test_close_handshake_both_ways(kind: str) -> None:
    codes: list = []

    async def handler(ws):
        try:
            await ws.wait_closed()
        finally:
            codes.append(ws.close_code)

    server, url = await _server(handler)
    sock = await make_transport(kind).open(url, **OPEN)
    await sock.close()
    await wait_until(lambda: codes)
    assert codes == [1000]

    async def closer(ws):
        await ws.close(4001, "bye")

    server2, url2 = await _server(closer)
    sock2 = await make_transport(kind).open(url2, **OPEN)
    with pytest.raises(sock2.closed_errors, match="4001"):
        await asyncio.wait_for(sock2.recv(), 3)
    with pytest.raises((TransportClosed, *sock2.closed_errors)):
        await sock2.send("after the close")
    server.close()
    server2.close()


async def test_a_refused_handshake_raises(kind: str) -> None:
    venue = await FakeVenue().start()
    venue.refuse = True
    try:
        with pytest.raises(HandshakeFailed, match="503"):
            await make_transport(kind).open(venue.url, **OPEN)
    finally:
        await venue.stop()


async def test_the_manager_runs_and_reconnects_on_the_transport(venue: FakeVenue, kind: str) -> None:
    mgr = MarketDataManager(endpoints={"binance": Endpoint(ws=venue.url, rest="http://127.0.0.1:9")},
                            transport=make_transport(kind))  # fmt: skip
    got: list = []
    try:
        await mgr.subscribe(Subscription("binance", "ticker", "BTC/USDT"), got.append)
        await wait_until(lambda: venue.subscribed_params())
        await venue.push(book_ticker(bid="1.5"))
        await wait_until(lambda: got)
        assert str(got[0].bid) == "1.5"
        venue.drop()
        await wait_until(lambda: venue.connections == 2 and len(venue.subscribed_params()) == 4, timeout=5)
        await venue.push(book_ticker(bid="1.6"))
        await wait_until(lambda: len(got) == 2)
        assert str(got[1].bid) == "1.6"
    finally:
        await mgr.close()
