"""The WebSocket transport interface, so clients can be swapped and measured without touching adapters.

``picows`` (``picows_transport.PicowsTransport``, a maintained Cython RFC 6455 client) is the
default; ``websockets`` (``WebsocketsTransport``) is the fallback, one setting away
(``FEED_TRANSPORT=websockets`` or ``manage.py feed --transport websockets``). Both send protocol-level
keep-alive pings (``ping_interval``/``ping_timeout``), answer the server's pings (Binance's)
themselves, fail the connection the way RFC 6455 asks (``tests/core/feeds/test_transport_conformance.py``),
and take a frame limit per venue (Coinbase book snapshots are several MB).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from marketdata.feeds.wserrors import HandshakeFailed, TransportClosed

__all__ = ["DEFAULT_TRANSPORT", "TRANSPORTS", "HandshakeFailed", "Socket", "Transport", "TransportClosed",
           "WebsocketsSocket", "WebsocketsTransport", "make_transport"]  # fmt: skip


class Socket(Protocol):
    """One open WebSocket.

    ``serve`` is the hot path: it hands every message to ``on_message`` until the socket ends, then
    raises one of ``closed_errors`` (or what ``on_message`` raised). A transport that parses frames
    in a protocol callback calls ``on_message`` right there (no queue, no task switch per message);
    ``recv`` pulls one message at a time for the few readers that want that.
    """

    @property
    def closed_errors(self) -> tuple[type[BaseException], ...]: ...

    async def serve(self, on_message: Callable[[str | bytes], None]) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def send(self, text: str) -> None: ...

    async def close(self) -> None: ...

    def abort(self) -> None: ...


class Transport(Protocol):
    """Opens sockets."""

    async def open(self, url: str, *, max_frame_bytes: int, ping_interval: float, ping_timeout: float) -> Socket: ...


class WebsocketsSocket:
    """A ``websockets`` client connection."""

    __slots__ = ("ws",)
    closed_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionClosed,)

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def serve(self, on_message: Callable[[str | bytes], None]) -> None:
        """Pull each message from the library's queue and hand it on."""
        # Text frames are decoded (so UTF-8 is validated, RFC 6455 8.1: with decode=False the library
        # hands out unchecked bytes); orjson reads the str directly.
        recv = self.ws.recv
        while True:
            on_message(await recv())

    async def recv(self) -> str | bytes:
        """The next message."""
        return await self.ws.recv()

    async def send(self, text: str) -> None:
        """Send one text frame."""
        try:
            await self.ws.send(text)
        except ConnectionClosed as exc:
            raise TransportClosed(str(exc)) from exc

    async def close(self) -> None:
        """Close handshake, bounded by the library's close timeout."""
        await self.ws.close()

    def abort(self) -> None:
        """Drop the TCP connection now (stale feed: no close handshake with a silent peer)."""
        transport = self.ws.transport
        if transport is not None:
            transport.abort()


class WebsocketsTransport:
    """The fallback transport, on ``websockets``; ``ssl_context`` for ``wss://`` with a private CA."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context

    async def open(
        self, url: str, *, max_frame_bytes: int, ping_interval: float, ping_timeout: float
    ) -> WebsocketsSocket:
        """Connect (the caller bounds this with its connect timeout)."""
        # Only a wss:// URL with a private CA passes ``ssl``: websockets picks the default context itself.
        extra: dict[str, Any] = {"ssl": self.ssl_context} if self.ssl_context and url.startswith("wss:") else {}
        try:
            ws = await connect(
                url,
                **extra,
                max_size=max_frame_bytes,
                ping_interval=ping_interval or None,
                ping_timeout=ping_timeout or None,
                open_timeout=None,
                close_timeout=2,
                compression=None,  # venues send small frames; deflate costs CPU on the hot path
                # max_queue stays at the library default (16 frames): measured, a deeper queue (1024)
                # was slower on the firehose benchmark (about 96k vs 113k frames per CPU-second).
            )
        except InvalidHandshake as exc:  # one error type for a refused upgrade, whatever the transport
            raise HandshakeFailed(f"handshake failed: {exc}") from exc
        return WebsocketsSocket(ws)


# picows is the default: measured side by side in ``bench/bench_feeds.py`` it was at least as fast as
# the project's own RFC 6455 client (which was then deleted) with both passing the conformance suite,
# and about 2.5x the ``websockets`` transport; see ``bench/results/latest.md``.
DEFAULT_TRANSPORT = "picows"
TRANSPORTS = ("picows", "websockets")


def make_transport(kind: str = DEFAULT_TRANSPORT, ssl_context: ssl.SSLContext | None = None) -> Transport:
    """A transport by name: ``picows`` (``picows_transport``) or ``websockets``."""
    if kind == "websockets":
        return WebsocketsTransport(ssl_context)
    if kind == "picows":
        from marketdata.feeds.picows_transport import PicowsTransport

        return PicowsTransport(ssl_context)
    raise ValueError(f"unknown feed transport {kind!r}; use one of {', '.join(TRANSPORTS)}")
