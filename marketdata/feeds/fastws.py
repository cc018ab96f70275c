"""A lean WebSocket client transport (RFC 6455) on a plain asyncio Protocol, for market-data reading.

Why: with ``websockets`` about three quarters of our per-frame CPU is the library's receive path, not
our parsing. This client parses frames straight out of ``data_received`` into a deque and hands them
out as ``bytes`` (orjson and json read bytes, so text frames are not decoded twice). It does what a
feed needs and no more: ws/wss, text/binary/continuation frames, ping -> pong, our own keep-alive
pings with a pong timeout, close handshake, a frame size limit, and TCP back-pressure when the
reader falls behind. No extensions (no permessage-deflate), no subprotocols.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import os
import ssl
import struct
from urllib.parse import urlsplit

from marketdata.feeds.transport import TransportClosed

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HIGH_WATER, LOW_WATER = 4096, 1024  # frames queued before we stop reading the socket / resume
MAX_HANDSHAKE = 64 * 1024


class ProtocolError(TransportClosed):
    """The peer broke RFC 6455 (or our limits)."""


def _mask(payload: bytes, key: bytes) -> bytes:
    # XOR with the repeating 4-byte key, done on one big int (fast for the small frames we send).
    n = len(payload)
    if n == 0:
        return payload
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def _frame(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + key + _mask(payload, key)


class _Protocol(asyncio.Protocol):
    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.handshake: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.queue: collections.deque[bytes] = collections.deque()
        self.waiter: asyncio.Future[None] | None = None
        self.closed: TransportClosed | None = None
        self.fragments: list[bytes] = []
        self.pong: asyncio.Future[None] | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HANDSHAKE:
                    self._fail(ProtocolError("handshake response too large"))
                return
            if not self.handshake.done():
                self.handshake.set_result(bytes(buf[: end + 4]))
            del buf[: end + 4]
            self.upgraded = True
        self._parse()

    def _parse(self) -> None:
        buf = self.buf
        pos, size = 0, len(buf)
        queue = self.queue
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif n == 127:
                if size - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if n > self.max_size:
                self._fail(ProtocolError(f"frame of {n} bytes over the {self.max_size} limit"))
                return
            masked = b1 & 0x80
            if masked:  # servers must not mask; tolerate it anyway
                head += 4
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            if masked:
                payload = _mask(payload, bytes(buf[pos + head - 4 : pos + head]))
            pos += head + n
            opcode = b0 & 0x0F
            if b0 & 0x80 and (opcode == 1 or opcode == 2):  # FIN text/binary: the common case
                queue.append(payload)
            elif opcode == 0 or opcode == 1 or opcode == 2:  # fragmented message
                self.fragments.append(payload)
                if sum(len(f) for f in self.fragments) > self.max_size:
                    self._fail(ProtocolError("message over the size limit"))
                    return
                if b0 & 0x80:
                    queue.append(b"".join(self.fragments))
                    self.fragments = []
            elif opcode == 9:  # ping -> pong with the same data
                self.write(_frame(0xA, payload))
            elif opcode == 0xA:
                if self.pong is not None and not self.pong.done():
                    self.pong.set_result(None)
            elif opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                self.write(_frame(0x8, payload[:2]))
                self._fail(TransportClosed(f"closed by peer ({code} {payload[2:].decode(errors='replace')})"))
                return
            else:
                self._fail(ProtocolError(f"unknown opcode {opcode}"))
                return
        if pos:
            del buf[:pos]
        if queue:
            waiter = self.waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if len(queue) > HIGH_WATER and not self.paused and self.transport is not None:
                self.paused = True
                self.transport.pause_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _fail(self, exc: TransportClosed) -> None:
        if self.closed is None:
            self.closed = exc
        if not self.handshake.done():
            self.handshake.set_exception(exc)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(TransportClosed(f"connection lost: {exc!r}" if exc else "connection closed"))


class FastSocket:
    """One open connection; ``recv`` returns the next message's bytes."""

    closed_errors = (TransportClosed,)

    def __init__(self, proto: _Protocol, ping_interval: float, ping_timeout: float) -> None:
        self.proto = proto
        self._pinger = (
            asyncio.get_running_loop().create_task(self._keepalive(ping_interval, ping_timeout))
            if ping_interval
            else None
        )

    async def recv(self) -> bytes:
        """The next message (raises ``TransportClosed`` once the queue is empty and the socket is gone)."""
        proto = self.proto
        queue = proto.queue
        while not queue:
            if proto.closed is not None:
                raise proto.closed
            proto.waiter = asyncio.get_running_loop().create_future()
            await proto.waiter
        if proto.paused and len(queue) < LOW_WATER and proto.transport is not None:
            proto.paused = False
            proto.transport.resume_reading()
        return queue.popleft()

    async def send(self, text: str) -> None:
        """Send one text frame."""
        if self.proto.closed is not None:
            raise self.proto.closed
        self.proto.write(_frame(0x1, text.encode()))

    async def _keepalive(self, interval: float, timeout: float) -> None:
        proto = self.proto
        while proto.closed is None:
            await asyncio.sleep(interval)
            proto.pong = asyncio.get_running_loop().create_future()
            proto.write(_frame(0x9, os.urandom(4)))
            try:
                await asyncio.wait_for(proto.pong, timeout or None)
            except TimeoutError:
                proto._fail(TransportClosed(f"no pong within {timeout} s"))

    async def close(self) -> None:
        """Close handshake (bounded), then the TCP connection."""
        proto = self.proto
        if self._pinger is not None:
            self._pinger.cancel()
        if proto.closed is None:
            proto.write(_frame(0x8, struct.pack("!H", 1000)))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 2
            while proto.closed is None and loop.time() < deadline:
                proto.waiter = loop.create_future()
                try:
                    await asyncio.wait_for(proto.waiter, deadline - loop.time())
                except TimeoutError:
                    break
                proto.queue.clear()
        self.abort()

    def abort(self) -> None:
        """Drop the TCP connection now."""
        if self._pinger is not None:
            self._pinger.cancel()
        if self.proto.transport is not None:
            self.proto.transport.abort()
        self.proto._fail(TransportClosed("aborted"))


class FastTransport:
    """Opens ``FastSocket``s (``ws://`` and ``wss://``)."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context

    async def open(self, url: str, *, max_frame_bytes: int, ping_interval: float, ping_timeout: float) -> FastSocket:
        """TCP (+TLS) connect and the HTTP Upgrade handshake."""
        parts = urlsplit(url)
        secure = parts.scheme == "wss"
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"not a WebSocket URL: {url!r}")
        host, port = parts.hostname, parts.port or (443 if secure else 80)
        context = (self.ssl_context or ssl.create_default_context()) if secure else None
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_connection(
            lambda: _Protocol(max_frame_bytes), host, port, ssl=context, server_hostname=host if secure else None
        )
        key = base64.b64encode(os.urandom(16))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = host if parts.port is None else f"{host}:{port}"
        transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            f"User-Agent: botplatform-marketdata\r\n\r\n".encode()
        )
        try:
            head = await proto.handshake
            status, headers = _parse_head(head)
            expected = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()  # noqa: S324 - RFC 6455
            if status != 101 or headers.get("sec-websocket-accept") != expected:
                raise ProtocolError(f"handshake failed: HTTP {status}")
        except BaseException:
            transport.abort()
            raise
        return FastSocket(proto, ping_interval, ping_timeout)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as exc:
        raise ProtocolError(f"bad status line {lines[0]!r}") from exc
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers
