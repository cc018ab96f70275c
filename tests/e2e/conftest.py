"""Browser tests: Playwright drives Debian's headless Chromium against the running platform.

``platform`` starts ``manage.py run`` (web + engine + simulator in one process, the README's run
command) as a subprocess on a free port with its own DATA_DIR, after migrate, collectstatic, demo
and two users. It always runs the embedded default (SQLite, in-process layer): the Redis path is
covered by the portal's integration tests and the benchmark. Skips cleanly without Chromium.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ROOT = Path(__file__).resolve().parents[2]
USERS = {"alice": "alice-e2e-pass-1", "bob": "bob-e2e-pass-1", "carol": "carol-e2e-pass-1"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason=f"{CHROMIUM} not installed (scripts/ensure-browser.sh)"))


@dataclass
class Platform:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=180,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


CREATE_USERS = """
from django.contrib.auth import get_user_model
U = get_user_model()
for name, pw in {users!r}.items():
    if not U.objects.filter(username=name).exists():
        U.objects.create_user(name, name + "@example.invalid", pw)
"""


# A month of daily P&L snapshots for the demo user's bots, so the portfolio's chart has a history.
SEED_SNAPSHOTS = """
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from bots.models import Bot, DailyPnlSnapshot
today = timezone.now().date()
for n, bot in enumerate(Bot.objects.filter(owner__username="demo")):
    for d in range(30, 0, -1):
        pnl = Decimal(((30 - d) * (7 + n * 3)) % 97 - 20 + (30 - d) * 2)
        DailyPnlSnapshot.objects.update_or_create(bot=bot, date=today - timedelta(days=d), defaults={
            "realized": pnl, "unrealized": 0, "equity": bot.capital + pnl})
"""


def start_platform(data: Path, env: dict[str, str], *args: str, ready: str = "engine:") -> Iterator[Platform]:
    """Prepare DATA_DIR ``data`` (migrate, static, demo, users) and serve ``manage.py run *args``."""
    env = {**env, "DATA_DIR": str(data), "STATIC_ROOT": str(data / "static"), "LOG_LEVEL": "WARNING",
           "DJANGO_SETTINGS_MODULE": "botplatform.settings"}
    _manage(env, "migrate", "--noinput")
    _manage(env, "collectstatic", "--noinput")
    _manage(env, "demo")
    _manage(env, "shell", "-c", CREATE_USERS.format(users=USERS))
    _manage(env, "shell", "-c", SEED_SNAPSHOTS)
    port = _free_port()
    log = data / "run.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "run", "--port", str(port), *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while ready not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"platform did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Platform(f"http://127.0.0.1:{port}", data, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PRODUCTION")}
    yield from start_platform(tmp_path_factory.mktemp("platform"), env)


@pytest.fixture(scope="session")
def chromium():
    """The one headless Chromium of the session (Playwright's sync API allows one at a time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def browser(platform: Platform, chromium):
    """Chromium with the embedded platform running (closed before the platform stops)."""
    return chromium


def log_in(browser, platform: Platform, username: str, *, javascript: bool = True, width: int = 1300,
           password: str | None = None):
    """A fresh browser context signed in as ``username``; returns its page. Every Content-Security-
    Policy violation the page reports is collected in ``page.csp_violations``."""
    context = browser.new_context(viewport={"width": width, "height": 900}, java_script_enabled=javascript)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.csp_violations = []
    page.on("console", lambda m: page.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(f"{platform.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or USERS[username])
    page.click("button[type=submit]")
    page.wait_for_url(f"{platform.url}/")
    return page
