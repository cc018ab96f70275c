"""A lean Redis pub/sub subscriber: one socket, RESP2 pushes parsed a whole read at a time.

Why not redis-py's ``PubSub``: measured on the 2-core bench machine it reads about 13,000
messages/s (its parser awaits a line at a time, with a timeout context per message), below one
worker's share of the 10,000 ticks/s target with room to spare. This reader parses every complete
push in each socket read in one pass (``bench/bench_scaleout.py`` has the numbers). It speaks only
what a subscriber needs (AUTH, SUBSCRIBE, UNSUBSCRIBE and their pushes) and reconnects, re-
subscribing everything, when the connection drops. Plain Python: no Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlparse

log = logging.getLogger(__name__)
Handler = Callable[[bytes, bytes], None]  # (channel, data)
MESSAGE = b"*3\r\n$7\r\nmessage\r\n$"  # a published message's push, up to its channel's length
MESSAGE_LEN = len(MESSAGE)


def command(*args: str | bytes) -> bytes:
    """One RESP2 command."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def parse_pushes(buf: bytearray, on_message: Handler) -> int:
    """Hand every complete ``message`` push in ``buf`` to ``on_message``; return the bytes consumed.
    Other pushes (subscribe confirmations, replies to AUTH) are consumed and ignored; an error reply
    raises."""
    pos, end = 0, len(buf)
    find, startswith = buf.find, buf.startswith
    while pos < end:
        if startswith(MESSAGE, pos):  # the hot path: one published message, sliced in place
            p = pos + MESSAGE_LEN
            nl = find(b"\r\n", p)
            if nl < 0:
                break
            start = nl + 2
            stop = start + int(buf[p:nl])
            nl = find(b"\r\n", stop + 2)
            if nl < 0:
                break
            data_start = nl + 2
            data_stop = data_start + int(buf[stop + 3:nl])
            if data_stop + 2 > end:
                break
            pos = data_stop + 2
            on_message(bytes(buf[start:stop]), bytes(buf[data_start:data_stop]))
            continue
        head = buf[pos]
        nl = find(b"\r\n", pos)
        if nl < 0:
            break
        if head in (43, 58):  # '+OK' or ':n' outside an array
            pos = nl + 2
            continue
        if head == 45:  # '-ERR ...'
            raise ConnectionError(bytes(buf[pos + 1:nl]).decode(errors="replace"))
        if head != 42:  # '*'
            raise ConnectionError(f"unexpected RESP byte {head!r}")
        count = int(buf[pos + 1:nl])
        p, items, complete = nl + 2, [], True
        for _ in range(count):
            nl = find(b"\r\n", p)
            if nl < 0:
                complete = False
                break
            kind = buf[p]
            if kind == 36:  # '$' bulk string
                size = int(buf[p + 1:nl])
                start, stop = nl + 2, nl + 2 + size
                if stop + 2 > end:
                    complete = False
                    break
                items.append(bytes(buf[start:stop]))
                p = stop + 2
            else:  # ':' integer (subscription count)
                items.append(b"")
                p = nl + 2
        if not complete:
            break
        pos = p
        if count == 3 and items[0] == b"message":
            on_message(items[1], items[2])
    return pos


class Subscriber:
    """Subscribes to channels and calls ``on_message(channel, data)`` for every message."""

    def __init__(self, url: str, on_message: Handler, *, on_gap: Callable[[], None] | None = None,
                 name: str = "") -> None:
        self.name = name  # CLIENT SETNAME: operators (and tests) can find this connection
        u = urlparse(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 6379
        self.username, self.password = unquote(u.username or ""), unquote(u.password or "")
        self.on_message, self.on_gap = on_message, on_gap
        self.channels: set[str] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._connected.wait(), 10)

    async def subscribe(self, names: Iterable[str]) -> None:
        names = [n for n in names if n not in self.channels]
        self.channels.update(names)
        if names and self._writer is not None:
            self._writer.write(command("SUBSCRIBE", *names))
            await self._writer.drain()

    async def unsubscribe(self, names: Iterable[str]) -> None:
        names = [n for n in names if n in self.channels]
        self.channels.difference_update(names)
        if names and self._writer is not None:
            self._writer.write(command("UNSUBSCRIBE", *names))
            await self._writer.drain()

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                if self.password:
                    auth = ("AUTH", self.username, self.password) if self.username else ("AUTH", self.password)
                    writer.write(command(*auth))
                if self.name:
                    writer.write(command("CLIENT", "SETNAME", self.name))
                if self.channels:
                    writer.write(command("SUBSCRIBE", *sorted(self.channels)))
                await writer.drain()
                self._writer, delay = writer, 0.1
                self._connected.set()
                buf = bytearray()
                while True:
                    chunk = await reader.read(1 << 16)
                    if not chunk:
                        raise ConnectionError("Redis closed the connection")
                    buf += chunk
                    used = parse_pushes(buf, self.on_message)
                    if used:
                        del buf[:used]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Whatever was published until we are back is gone: readers take the next ticks.
                log.warning("pub/sub connection lost (%r); reconnecting in %.1f s", exc, delay)
                self._writer = None
                if self.on_gap is not None:
                    self.on_gap()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class Publisher:
    """Pipelined PUBLISH on one socket; the integer replies are drained (and counted) by a reader
    task instead of being awaited one by one, which is what caps redis-py's pipeline here."""

    def __init__(self, url: str) -> None:
        u = urlparse(url)
        self.host, self.port = u.hostname or "127.0.0.1", u.port or 6379
        self.username, self.password = unquote(u.username or ""), unquote(u.password or "")
        self.acknowledged = self.errors = 0
        self._writer: asyncio.StreamWriter | None = None
        self._drain: asyncio.Task[None] | None = None

    async def _connect(self) -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        if self.password:
            writer.write(command(*(("AUTH", self.username, self.password) if self.username
                                   else ("AUTH", self.password))))
        self._drain = asyncio.create_task(self._replies(reader))
        self._writer = writer
        return writer

    async def _replies(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                self._writer = None
                return
            if line[:1] == b"-":
                self.errors += 1
                log.warning("PUBLISH refused: %s", line.strip().decode(errors="replace"))
            else:
                self.acknowledged += 1

    async def publish_many(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Send every (channel, data) in one write; raises if Redis is unreachable."""
        writer = self._writer or await self._connect()
        writer.write(b"".join(command("PUBLISH", ch, data) for ch, data in messages))
        await writer.drain()

    async def close(self) -> None:
        if self._drain is not None:
            self._drain.cancel()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
