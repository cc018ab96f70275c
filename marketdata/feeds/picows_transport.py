"""The ``picows`` transport (the default): a maintained Cython RFC 6455 client, behind our ``Transport`` interface.

picows parses frames in C and calls ``on_ws_frame`` once per frame with a view into its read buffer;
it masks what we send, answers pings, sends our keep-alive pings (``PING_WHEN_IDLE``: a busy feed
needs none, a quiet one is pinged after ``ping_interval`` and dropped when no pong comes within
``ping_timeout``), and validates opcodes, control frames, payload lengths and masking. It hands out
frames, not messages, and leaves some of RFC 6455 to its user, so this module adds what a message
reader needs on top (each case is in ``tests/core/feeds/test_transport_conformance.py``):
reassembling fragmented messages under the size limit, failing the connection on RSV bits (picows
ignores them), on text that is not UTF-8 (1007) and on close codes that must not be on the wire
(picows accepts 0 and 1006), echoing the peer's close code, and delivering nothing after a close or
after a frame over the limit (picows reports that one, then still delivers it). ``serve`` calls the
reader inside the frame callback; ``recv`` reads from a bounded queue that pauses the socket when
the reader falls behind (TCP back-pressure).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Callable
from typing import ClassVar

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    ws_connect,
)

from marketdata.feeds.wserrors import HandshakeFailed, TransportClosed

# Messages queued for ``recv`` before we stop reading the socket (TCP back-pressure) / resume.
HIGH_WATER, LOW_WATER = 4096, 1024
# Close codes a peer may put on the wire (RFC 6455 7.4 and the IANA registry); 3000-4999 are free for use.
WIRE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)})

TEXT, BINARY, CONTINUATION, CLOSE = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION, WSMsgType.CLOSE


Handler = Callable[[bytes], None]


class _Listener(WSListener):
    """Turns picows frames into whole messages, handed to ``handler`` (push) or queued for ``recv`` (pull)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.transport: WSTransport | None = None
        self.handler: Handler | None = None
        self.queue: collections.deque[bytes] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed: BaseException | None = None
        self.fragments: list[bytes] = []
        self.fragments_size = 0
        self.fragmented_text = False
        self.paused = False

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # The hot path: a whole ASCII text frame while serve() runs goes straight to the handler.
        handler = self.handler
        if (
            handler is not None
            and frame.msg_type is TEXT
            and frame.fin
            and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
            and frame.payload_size <= self.max_size
            and self.closed is None
            and not self.fragments
        ):
            payload = frame.get_payload_as_bytes()
            if payload.isascii():
                try:
                    handler(payload)
                except Exception as exc:  # the reader failed: end the socket, serve() raises it
                    self._set_closed(exc)
                    transport.disconnect(graceful=False)
                return
        self._frame(transport, frame)

    def _frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Every other frame: the checks in RFC order, fragments, close; then delivery."""
        if self.closed is not None:
            return  # nothing is delivered after the peer's close or our failure
        kind = frame.msg_type
        if frame.rsv1 or frame.rsv2 or frame.rsv3:  # no extension negotiated (picows does not check)
            raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "reserved bits set")
        if frame.payload_size > self.max_size:  # picows reports it, but still delivers the frame
            raise WSProtocolError(WSCloseCode.MESSAGE_TOO_BIG, f"frame over the {self.max_size} byte limit")
        if frame.fin and not self.fragments and (kind is TEXT or kind is BINARY):  # the common case
            payload = frame.get_payload_as_bytes()
            if kind is TEXT:
                _check_utf8(payload)
            self._deliver(payload)
        elif kind is TEXT or kind is BINARY or kind is CONTINUATION:
            self._fragment(frame, kind)
        elif kind is CLOSE:
            self._peer_closed(transport, frame)
        # PING is answered and an awaited PONG consumed inside picows; an unsolicited PONG is ignored.

    def _fragment(self, frame: WSFrame, kind: WSMsgType) -> None:
        if kind is CONTINUATION:
            if not self.fragments:
                raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif self.fragments:
            raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, "new message inside a fragmented message")
        else:
            self.fragmented_text = kind is TEXT
        payload = frame.get_payload_as_bytes()
        self.fragments_size += len(payload)
        if self.fragments_size > self.max_size:
            raise WSProtocolError(WSCloseCode.MESSAGE_TOO_BIG, f"message over the {self.max_size} byte limit")
        self.fragments.append(payload or b"")
        if frame.fin:
            message = b"".join(self.fragments)
            self.fragments, self.fragments_size = [], 0
            if self.fragmented_text:
                _check_utf8(message)
            self._deliver(message)

    def _peer_closed(self, transport: WSTransport, frame: WSFrame) -> None:
        code = frame.get_close_code().value
        if frame.payload_size >= 2 and code not in WIRE_CLOSE_CODES:
            raise WSProtocolError(WSCloseCode.PROTOCOL_ERROR, f"invalid close code {code}")  # picows allows 0, 1006
        self._set_closed(TransportClosed(f"closed by peer ({code} {frame.get_close_reason() or ''})"))
        # Echo the peer's code (RFC 6455 5.5.1); the server then ends the TCP connection.
        transport.send_close(frame.get_close_code() if code else WSCloseCode.OK)
        transport.disconnect()

    def _deliver(self, message: bytes) -> None:
        handler = self.handler
        if handler is not None:
            try:
                handler(message)
            except Exception as exc:  # the reader's failure ends the socket and surfaces in serve()
                self._set_closed(exc)
                if self.transport is not None:
                    self.transport.disconnect(graceful=False)
            return
        queue = self.queue
        queue.append(message)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if len(queue) > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.underlying_transport.pause_reading()

    def _set_closed(self, exc: BaseException) -> None:
        if self.closed is None:
            self.closed = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        handshake = transport.close_handshake
        if handshake is not None and handshake.sent is not None and handshake.recv is None:
            sent = handshake.sent  # we failed the connection (protocol error, limit, bad UTF-8)
            self._set_closed(TransportClosed(f"protocol error ({sent.code.value} {sent.reason})"))
        self._set_closed(TransportClosed("connection closed"))


def _check_utf8(payload: bytes) -> None:
    """Fail the connection (1007) unless a text message is valid UTF-8 (RFC 6455 8.1)."""
    if payload.isascii():
        return
    try:
        payload.decode()
    except UnicodeDecodeError as exc:
        raise WSProtocolError(WSCloseCode.INVALID_TEXT, "text message is not valid UTF-8") from exc


class PicowsSocket:
    """One open picows connection: ``serve`` pushes each message to a handler, ``recv`` pulls the next one."""

    __slots__ = ("transport", "listener")
    closed_errors: ClassVar[tuple[type[BaseException], ...]] = (TransportClosed,)

    def __init__(self, transport: WSTransport, listener: _Listener) -> None:
        self.transport = transport
        self.listener = listener

    async def serve(self, on_message: Handler) -> None:
        """Call ``on_message`` with each message inside picows' frame callback (no queue, no task switch)
        until the socket ends; then raise ``TransportClosed`` (or what ``on_message`` raised)."""
        listener = self.listener
        while listener.queue:  # anything that arrived before we were asked
            on_message(listener.queue.popleft())
        listener.handler = on_message
        try:
            while listener.closed is None:
                listener.waiter = asyncio.get_running_loop().create_future()
                await listener.waiter
        finally:
            listener.handler = None
        raise listener.closed

    async def recv(self) -> bytes:
        """The next message (raises ``TransportClosed`` once the queue is empty and the socket is gone)."""
        listener = self.listener
        queue = listener.queue
        while not queue:
            if listener.closed is not None:
                raise listener.closed
            listener.waiter = asyncio.get_running_loop().create_future()
            await listener.waiter
        if listener.paused and len(queue) < LOW_WATER:
            listener.paused = False
            self.transport.underlying_transport.resume_reading()
        return queue.popleft()

    async def send(self, text: str) -> None:
        """Send one text frame."""
        if self.listener.closed is not None:
            raise TransportClosed(str(self.listener.closed))
        self.transport.send(TEXT, text.encode())

    async def close(self) -> None:
        """Close handshake (bounded to 2 s), then the TCP connection."""
        transport = self.transport
        if not transport.is_disconnected:
            transport.send_close(WSCloseCode.OK)
            try:
                await asyncio.wait_for(transport.wait_disconnected(), 2)
            except (TimeoutError, WSError, OSError):
                pass
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection now."""
        self.transport.disconnect(graceful=False)
        self.listener._set_closed(TransportClosed("aborted"))


class PicowsTransport:
    """Opens ``PicowsSocket``s (``ws://`` and ``wss://``)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context

    async def open(
        self, url: str, *, max_frame_bytes: int, ping_interval: float, ping_timeout: float
    ) -> PicowsSocket:
        """TCP (+TLS) connect and the HTTP Upgrade handshake (the caller bounds it with its timeout)."""
        try:
            transport, listener = await ws_connect(
                lambda: _Listener(max_frame_bytes),
                url,
                ssl_context=self.ssl_context if url.startswith("wss:") else None,
                websocket_handshake_timeout=None,
                enable_auto_ping=bool(ping_interval),
                auto_ping_idle_timeout=ping_interval or 30,
                # picows wants the pong timeout no longer than the idle time before a ping.
                auto_ping_reply_timeout=min(ping_timeout or 30, ping_interval or 30),
                max_frame_size=max_frame_bytes,
                max_redirects=0,
                logger_name="feed",
            )
        except WSError as exc:  # picows' handshake errors: one type for every transport
            raise HandshakeFailed(f"handshake failed: {exc}") from exc
        # picows keeps the reason it failed a connection on this future; the listener has reported it.
        ended = asyncio.ensure_future(transport.wait_disconnected())
        ended.add_done_callback(lambda f: f.cancelled() or f.exception())
        assert isinstance(listener, _Listener)
        return PicowsSocket(transport, listener)
