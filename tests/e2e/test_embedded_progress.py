"""`make run` (SQLite, in-process channel layer, eager Celery): a backtest started from the page runs on a
local worker thread, not inside the POST. The POST redirects at once to a page that shows the run still
going; its progress arrives over the in-process layer (pushes seen on another tab's socket, opened before
the run starts) and the page shows a partly filled bar, then the results."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT, log_in
from .test_backtest_pages import _fill_params
from .test_portal_flow import SHOTS

pytestmark = pytest.mark.e2e

BARS = 120_000  # about a second of replay or more: long enough to be seen half-way
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, clear of the other tests' history


def _import_long_history(platform, tmp_path) -> None:
    path = tmp_path / "eth.csv"
    with open(path, "w") as out:
        for i in range(BARS):
            close = 3_000 + 60 * math.sin(i / 40) + 25 * math.sin(i / 1_700) + (i % 7) * 0.3
            o = close - 0.5
            high, low = max(o, close) + 1, min(o, close) - 1
            out.write(f"{START_MS + i * 60_000},{o:.2f},{high:.2f},{low:.2f},{close:.2f},2\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PRODUCTION")}
    env.update({"DATA_DIR": str(platform.data_dir), "STATIC_ROOT": str(platform.data_dir / "static"),
                "DJANGO_SETTINGS_MODULE": "botplatform.settings", "LOG_LEVEL": "WARNING"})
    subprocess.run([sys.executable, "manage.py", "history", "import", str(path), "--exchange", "binance",
                    "--symbol", "ETH/USDT", "--timeframe", "1m"], cwd=ROOT, env=env, check=True, timeout=600,
                   capture_output=True)


def _backtest_pushes(frames: list[str]) -> list[dict]:
    items = []
    for text in frames:
        message = json.loads(text)
        items += [i for i in message.get("items", []) if i.get("type") == "bot.backtest"]
    return items


def test_a_backtest_runs_beside_the_request_with_live_progress(browser, platform, tmp_path):
    _import_long_history(platform, tmp_path)
    # Another tab of alice's, its live socket open before the run starts, records every push it gets.
    watcher = log_in(browser, platform, "alice")
    frames: list[str] = []
    watcher.on("websocket", lambda ws: ws.on("framereceived",
                                             lambda f: frames.append(f if isinstance(f, str) else "{}")))
    watcher.goto(f"{platform.url}/orders/")  # a page with a live socket, bots or none
    watcher.wait_for_function("() => document.getElementById('live-status').dataset.state === 'live'", timeout=30_000)

    page = log_in(browser, platform, "alice")
    page.goto(f"{platform.url}/backtests/")
    form = "#backtest-form"
    page.select_option(f"{form} select[name=strategy]", "crossover")
    _fill_params(page, form, {"fast_period": 10, "slow_period": 30})
    value = page.evaluate("""() => [...document.querySelectorAll('#backtest-form select[name=market] option')]
        .find(o => o.textContent.includes('ETH/USDT') && o.textContent.toLowerCase().includes('binance')).value""")
    page.select_option(f"{form} select[name=market]", value)
    page.fill(f"{form} input[name=since]", "2024-01-01 00:00")
    page.fill(f"{form} input[name=until]", "2025-01-01 00:00")
    with page.expect_response(lambda r: re.search(r"/backtests/\d+/$", r.url) is not None) as first:
        page.click(f"{form} button[type=submit]")
    # The POST returned before the run ended: the page it redirected to was served with the run still going.
    served = first.value.text()
    assert re.search(r'data-status="(pending|running)"', served), re.findall(r'data-status="\w+"', served)
    run_id = int(re.search(r"/backtests/(\d+)/$", first.value.url).group(1))
    # The bar fills part-way while the run goes on ...
    page.wait_for_function("() => { const p = document.getElementById('progress');"
                           " return p && p.value > 0 && p.value < 1 }", timeout=60_000)
    page.screenshot(path=str(SHOTS / "backtest-progress-embedded-1280.png"), full_page=True)
    # ... then the page reloads itself with the results.
    page.wait_for_selector("#metrics", timeout=120_000)
    assert page.locator("#progress-section").is_hidden()
    # The progress came over the in-process channel layer from the worker thread: pushes part-way.
    pushes = [p for p in _backtest_pushes(frames) if p.get("run_id") == run_id]
    assert any(p["status"] == "running" and 0 < p["progress"] < 1 for p in pushes), pushes
    assert pushes and pushes[-1]["status"] == "done"
    assert page.csp_violations == []
    watcher.context.close()
    page.context.close()
