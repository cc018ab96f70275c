"""A loopback WebSocket server that sends scripted raw frames, for the transport conformance tests.

It answers the HTTP Upgrade, writes the frames a case scripts (any opcode, FIN and RSV bits, masked or
not, split over TCP writes), then records what the client sends back (unmasked) until the client
closes. It echoes the client's close frame, as a server completing the close handshake does. The
cases follow the client-side behaviours of the Autobahn|Testsuite (fragmentation, interleaved
control frames, reserved bits and opcodes, UTF-8, close codes, limits); the server is ours.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """One raw frame as a server would send it (unmasked unless ``mask``)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close_frame(code: int | None = None, reason: bytes = b"") -> bytes:
    """A close frame with an optional status code and reason."""
    return frame(CLOSE, b"" if code is None else struct.pack("!H", code) + reason)


@dataclass
class Received:
    """What the client sent after the handshake, unmasked."""

    frames: list[tuple[int, bytes]] = field(default_factory=list)
    eof: asyncio.Event = field(default_factory=asyncio.Event)

    def close_code(self) -> int | None:
        """The status code of the client's close frame (``None``: no close frame, or one without a code)."""
        for opcode, payload in self.frames:
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        return None

    def of(self, opcode: int) -> list[bytes]:
        """Payloads of the client's frames with this opcode."""
        return [p for op, p in self.frames if op == opcode]


Script = Callable[[asyncio.StreamWriter], Awaitable[None]]


class ScriptedServer:
    """Serves one scripted connection at a time on 127.0.0.1 (ephemeral port)."""

    def __init__(self) -> None:
        self.script: Script | None = None
        self.script_closes = False
        self.received = Received()
        self.server: asyncio.Server | None = None

    async def start(self) -> ScriptedServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/case"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def sends(self, *frames: bytes, chunk: int = 0) -> None:
        """Script the next connection: write these frames (in ``chunk``-byte TCP writes if set)."""

        async def script(writer: asyncio.StreamWriter) -> None:
            data = b"".join(frames)
            step = chunk or len(data) or 1
            for i in range(0, len(data), step):
                writer.write(data[i : i + step])
                await writer.drain()

        self.script = script
        self.script_closes = any(f and f[0] & 0x0F == CLOSE for f in frames)
        self.received = Received()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received = self.received
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))  # fmt: skip
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())  # noqa: S324 - RFC 6455
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")  # fmt: skip
            if self.script is not None:
                await self.script(writer)
            await self._record(reader, writer, received)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the test ended (server stop cancels this handler)
        finally:
            received.eof.set()
            writer.close()

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, received: Received) -> None:
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            key = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(await reader.readexactly(n)))
            received.frames.append((b0 & 0x0F, payload))
            if b0 & 0x0F == CLOSE:
                if not self.script_closes:  # the client started the close handshake: complete it
                    writer.write(frame(CLOSE, payload[:2]))
                    await writer.drain()
                return  # the server closes the TCP connection first (RFC 6455 7.1.1)
