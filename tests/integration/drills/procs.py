"""Real processes for the failure drills: a private redis-server, the ``runengine`` process, Django
one-liners in their own process (what a web request does), and reads of the drill's database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
MANAGE = [sys.executable, str(ROOT / "manage.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a drill's processes: its own data directory, no shared PostgreSQL/Redis
    unless the drill passes its own."""
    env = {**os.environ, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "botplatform.settings",
           "PYTHONUNBUFFERED": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """``manage.py <args>`` to completion; returns its output (raises with it on failure)."""
    done = subprocess.run([*MANAGE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def django(env: dict[str, str], code: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh Django process (``manage.py shell -c``), as a web request would."""
    return manage(env, "shell", "-c", code, timeout=timeout)


class RedisServer:
    """A private redis-server (no persistence: a restart loses every queued message, as a crash does)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self._answers, 10, "redis-server to answer")
        return self

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class Engine:
    """``manage.py runengine --feeds simulator`` with its output drained by a thread (a full pipe
    would block the engine's logging)."""

    def __init__(self, env: dict[str, str], *args: str, feeds: str = "simulator") -> None:
        self.proc = subprocess.Popen([*MANAGE, "runengine", "--feeds", feeds, "--heartbeat", "0.5", *args],
                                     env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        until(lambda: any(x.startswith("engine: hosting") for x in self.lines) or self.proc.poll() is not None,
              60, "the engine to start")
        assert self.proc.poll() is None, self.output

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)
        return self.proc.returncode


def until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def sqlite_rows(data_dir: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(data_dir / "db.sqlite3", timeout=20) as db:
        return db.execute(sql, params).fetchall()


class TcpProxy:
    """A TCP proxy (asyncio, in its own thread) between a process and a server, that a drill can cut:
    every open connection is closed and new ones are refused until ``restore``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import asyncio

        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._server: Any = None
        self._writers: set[Any] = set()

    def _call(self, coro: Any) -> Any:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self) -> TcpProxy:
        import asyncio

        async def listen() -> None:
            self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

        self._call(listen())
        return self

    async def _client(self, reader: Any, writer: Any) -> None:
        import asyncio

        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: Any, dst: Any) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        async def cut() -> None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(cut())

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)
