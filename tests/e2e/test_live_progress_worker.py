"""Live progress from a real Celery worker, in a real browser (PostgreSQL + Redis, the production layout):
the web (``manage.py run --no-engine``) only queues the task; a separate ``celery worker`` process runs
it and its progress reaches the page through the Redis channel layer. A history download started from
the page and a backtest started from the page both show a part-filled progress bar while the worker is
on them, then end done. The worker starts only once the page's socket is open, so the page sees the
whole run (no race with a fast task). Runs in the CI's second pass (DATABASE_URL and REDIS_URL set)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .conftest import CREATE_USERS, ROOT, USERS, Platform, _free_port, _manage, log_in

pytestmark = [pytest.mark.skipif(not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")),
                                 reason="needs DATABASE_URL and REDIS_URL (the CI's second pass)"),
              pytest.mark.timeout(600)]

START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC
BARS = 20_000  # about two weeks of minutes: the backtest pushes progress a few times before it ends

# Records, across the page's own reloads, every push the page's socket receives and every value its
# progress bars show (a <progress> value set by script is reflected to its attribute, so it is observed).
RECORDER = """
(() => {
  const KEY = "live-record";
  const save = (entry) => {
    const all = JSON.parse(sessionStorage.getItem(KEY) || "[]");
    all.push(entry);
    sessionStorage.setItem(KEY, JSON.stringify(all));
  };
  const Native = window.WebSocket;
  function Recording(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("open", () => { window.__liveOpen = true; });
    ws.addEventListener("message", (ev) => {
      try { (JSON.parse(ev.data).items || []).forEach((item) => save({kind: "push", item: item})); } catch (e) {}
    });
    return ws;
  }
  Recording.prototype = Native.prototype;
  Object.assign(Recording, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Recording;
  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver(() => {
      document.querySelectorAll("progress").forEach((bar) => {
        const row = bar.closest("tr");
        const status = row ? row.querySelector("[data-field=status]") : document.getElementById("progress-text");
        save({kind: "shown", value: Number(bar.value), status: status ? status.textContent.trim() : ""});
      });
    }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ["value"], childList: true,
                               characterData: true});
  });
})();
"""


class LivePlatform(Platform):
    """The web process over PostgreSQL + Redis, and a Celery worker started and stopped on demand."""

    def __init__(self, url: str, data_dir: Path, log: Path, env: dict[str, str]) -> None:
        super().__init__(url, data_dir, log)
        self.env = env
        self.worker: subprocess.Popen | None = None
        self.worker_log = data_dir / "worker.log"
        self.worker_runs = 0

    def start_worker(self) -> None:
        assert self.worker is None
        self.worker_runs += 1
        log = self.data_dir / f"worker-{self.worker_runs}.log"
        self.worker_log = log
        self.worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "celery"), "-A", "botplatform", "worker", "--pool=prefork",
             "--concurrency=1", "--prefetch-multiplier=1", "-Q", "celery", "-n", f"e2e-live-{os.getpid()}@localhost",
             "--without-mingle", "--without-gossip", "--loglevel=INFO", "--logfile", str(log)],
            cwd=ROOT, env={**self.env, "LOG_LEVEL": "INFO"}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while not (log.exists() and "ready." in log.read_text()):
            assert self.worker.poll() is None and time.monotonic() < deadline, "the Celery worker did not start"
            time.sleep(0.2)

    def stop_worker(self) -> None:
        if self.worker is None:
            return
        self.worker.terminate()
        try:
            self.worker.wait(20)
        except subprocess.TimeoutExpired:
            self.worker.kill()
            self.worker.wait(5)
        self.worker = None


def _database_urls() -> tuple[str, str, str]:
    """(the server's URL for admin statements, this module's own database's URL, its name)."""
    import dj_database_url

    base = os.environ["DATABASE_URL"]
    name = dj_database_url.parse(base)["NAME"] + "_e2e_live"
    head, _, _ = base.rpartition("/")
    return base, f"{head}/{name}", name


def _admin(base_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(sql)


def _write_bars(path: Path) -> None:
    from bots.backtest import synthetic
    from bots.backtest.bars import write_csv

    with path.open("w") as out:
        write_csv(synthetic(BARS, start_ms=START_MS, seed=31), out)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePlatform]:
    from marketdata.simulator import SimulatorThread

    base, url, name = _database_urls()
    _admin(base, f'drop database if exists "{name}" with (force)')
    _admin(base, f'create database "{name}"')
    data = tmp_path_factory.mktemp("live-platform")
    env = {k: v for k, v in os.environ.items() if k != "PRODUCTION"}
    env.update({"DATABASE_URL": url, "DATA_DIR": str(data), "STATIC_ROOT": str(data / "static"),
                "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "botplatform.settings", "PYTHONPATH": str(ROOT)})
    sim = SimulatorThread(seed=3, venues=("binance",)).start()
    web: subprocess.Popen | None = None
    platform: LivePlatform | None = None
    try:
        _manage(env, "migrate", "--noinput")
        _manage(env, "collectstatic", "--noinput")
        _manage(env, "demo")
        _manage(env, "shell", "-c", CREATE_USERS.format(users=USERS))
        # The worker asks the exchange's own REST URL (no engine serves a venue in this layout).
        _manage(env, "shell", "-c", "from marketdata.models import Exchange; "
                f"Exchange.objects.filter(code='binance').update(rest_url={sim.urls['binance'].rest!r})")
        csv_path = data / "bars.csv"
        _write_bars(csv_path)
        _manage(env, "history", "import", str(csv_path), "--exchange", "binance", "--symbol", "ETH/USDT")
        # Tasks a killed earlier run left in the default queue would run before this module's.
        celery = str(Path(sys.executable).parent / "celery")
        subprocess.run([celery, "-A", "botplatform", "purge", "-f", "-Q", "celery"], cwd=ROOT, env=env, check=True,
                       timeout=120, capture_output=True)
        port = _free_port()
        log = data / "web.log"
        with open(log, "w") as out:
            web = subprocess.Popen([sys.executable, "manage.py", "run", "--no-engine", "--port", str(port)], cwd=ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "Platform running at" not in log.read_text():
            if web.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the web process did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        platform = LivePlatform(f"http://127.0.0.1:{port}", data, log, env)
        yield platform
    finally:
        if platform is not None:
            platform.stop_worker()
        if web is not None:
            web.terminate()
            try:
                web.wait(15)
            except subprocess.TimeoutExpired:
                web.kill()
                web.wait(5)
        sim.stop()
        _admin(base, f'drop database if exists "{name}" with (force)')


def _record(page) -> list[dict]:
    return json.loads(page.evaluate("() => sessionStorage.getItem('live-record') || '[]'"))


def _choose_market(page, form: str, symbol: str) -> None:
    value = page.evaluate(f"""() => [...document.querySelectorAll('{form} select[name=market] option')]
        .find(o => o.textContent.includes('{symbol}') && o.textContent.toLowerCase().includes('binance')).value""")
    page.select_option(f"{form} select[name=market]", value)


def test_a_download_started_on_the_page_runs_on_a_worker_with_live_progress(chromium, live):
    from playwright.sync_api import expect

    live.stop_worker()
    page = log_in(chromium, live, "alice", width=1280)
    page.add_init_script(RECORDER)
    page.goto(f"{live.url}/market/history/")
    _choose_market(page, "#download-form", "BTC/USDT")
    # 1,400 minutes: two pages of Binance klines (1,000 a page), so the bar stops part-way once.
    since = (datetime.now(UTC) - timedelta(minutes=1400)).strftime("%Y-%m-%d %H:%M")
    page.fill("#download-form input[name=since]", since)
    page.click("#download-form button[type=submit]")
    page.wait_for_url(f"{live.url}/market/history/")
    status = page.locator("#downloads tbody tr").first.locator("[data-field=status]")
    expect(status).to_have_text("pending")  # queued: no worker yet, and the web does not run it itself
    page.wait_for_function("() => window.__liveOpen === true")
    live.start_worker()
    expect(status).to_have_text("done", timeout=90_000)
    row = page.locator("#downloads tbody tr").first
    assert row.locator("progress").get_attribute("value") in ("1", "1.0")
    assert int(row.locator("td.num").first.inner_text()) >= 1399
    assert "BTC/USDT" in page.locator("#series").inner_text()
    record = _record(page)
    pushed = [r["item"] for r in record if r["kind"] == "push" and r["item"].get("type") == "history.progress"]
    assert any(p["status"] == "running" and 0 < p["progress"] < 1 for p in pushed), pushed
    assert pushed[-1]["status"] == "done" and pushed[-1]["progress"] == 1
    shown = [r for r in record if r["kind"] == "shown"]
    assert any(s["status"] == "running" and 0 < s["value"] < 1 for s in shown), shown
    assert "marketdata.fetch_history" in live.worker_log.read_text()  # the worker ran it, not the web
    page.context.close()


def test_a_backtest_started_on_the_page_runs_on_a_worker_with_live_progress(chromium, live):
    from playwright.sync_api import expect

    live.stop_worker()
    page = log_in(chromium, live, "bob", width=1280)
    page.add_init_script(RECORDER)
    page.goto(f"{live.url}/backtests/")
    form = "#backtest-form"
    page.select_option(f"{form} select[name=strategy]", "crossover")
    for field, value in {"fast_period": 5, "slow_period": 20}.items():
        page.fill(f"{form} [name=param-crossover-{field}]", str(value))
    _choose_market(page, form, "ETH/USDT")
    page.fill(f"{form} input[name=since]", "2026-01-01 00:00")
    page.fill(f"{form} input[name=until]", "2026-01-15 00:00")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{live.url}/backtests/*/")
    expect(page.locator("#progress-text")).to_have_text("pending")
    page.wait_for_function("() => window.__liveOpen === true")
    live.start_worker()
    page.wait_for_selector("#metrics", timeout=120_000)  # the page reloads itself with the results
    assert page.locator("#progress-section").is_hidden()
    assert page.locator("#equity-chart svg").count() == 1
    record = _record(page)
    pushed = [r["item"] for r in record if r["kind"] == "push" and r["item"].get("type") == "bot.backtest"]
    assert any(p["status"] == "running" and 0 < p["progress"] < 1 for p in pushed), pushed
    assert pushed[-1]["status"] == "done"
    shown = [r for r in record if r["kind"] == "shown"]
    assert any(s["status"].startswith("running") and 0 < s["value"] < 1 for s in shown), shown
    assert "bots.run_backtest" in live.worker_log.read_text()
    page.context.close()
