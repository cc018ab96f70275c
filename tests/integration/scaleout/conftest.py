"""Real ``runengine`` / ``runfeeds`` subprocesses on the test's PostgreSQL database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.conftest import USING_POSTGRES, USING_REDIS

ROOT = Path(__file__).resolve().parents[3]
MANAGE = [sys.executable, str(ROOT / "manage.py")]

needs_cluster = pytest.mark.skipif(not (USING_POSTGRES and USING_REDIS),
                                   reason="needs DATABASE_URL (PostgreSQL) and REDIS_URL: leases and fan-out "
                                          "between processes")


def until(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2, what: str = "") -> Any:
    """Poll ``predicate`` (it may query the ORM) until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(interval)


class Processes:
    """Started subprocesses, their logs, and signals to them; all killed at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen[str]] = {}
        db = connection.settings_dict
        url = (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
               f"/{db['NAME']}")
        self.env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1",
                    "DJANGO_SETTINGS_MODULE": "botplatform.settings"}

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[str]:
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen([*MANAGE, *args], env={**self.env, **env}, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, text=True)
        self.procs[name] = proc
        return proc

    def engine(self, name: str) -> subprocess.Popen[str]:
        return self.start(name, "runengine", "--feeds", "simulator", "--heartbeat", "0.5")

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text()

    def signal(self, name: str, sig: int) -> None:
        self.procs[name].send_signal(sig)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait(10)


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.close()
