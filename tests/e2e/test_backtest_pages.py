"""The backtest pages in a real browser, as a trader uses them: load a small history (``history import``
of a CSV this test writes), run a backtest from the page and read its results (metrics, equity and
drawdown chart, price chart with the trades, trades table), export the trades as CSV, compare two runs,
start a paper bot from a result, run a small sweep and sort its table by a column; another user sees
none of it; with JavaScript off the results still render. Screenshots at 1280 px and 390 px."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from .conftest import ROOT, log_in
from .test_portal_flow import SHOTS
from .test_portal_pages import fits

pytestmark = pytest.mark.e2e

START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def _import_history(platform, tmp_path) -> None:
    """600 one-minute candles of a slow sine wave, so an SMA crossover trades a few times."""
    rows = []
    for i in range(600):
        close = 50_000 + 800 * math.sin(i / 40) + 5 * (i % 7)
        o = close - 10
        high, low = max(o, close) + 15, min(o, close) - 15
        rows.append(f"{START_MS + i * 60_000},{o:.2f},{high:.2f},{low:.2f},{close:.2f},1.5")
    path = tmp_path / "btc.csv"
    path.write_text("\n".join(rows) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PRODUCTION")}
    env.update({"DATA_DIR": str(platform.data_dir), "STATIC_ROOT": str(platform.data_dir / "static"),
                "DJANGO_SETTINGS_MODULE": "botplatform.settings", "LOG_LEVEL": "WARNING"})
    subprocess.run([sys.executable, "manage.py", "history", "import", str(path), "--exchange", "binance",
                    "--symbol", "BTC/USDT", "--timeframe", "1m"], cwd=ROOT, env=env, check=True, timeout=120,
                   capture_output=True)


def _choose_market(page, form: str) -> None:
    value = page.evaluate(f"""() => [...document.querySelectorAll('{form} select[name=market] option')]
        .find(o => o.textContent.includes('BTC/USDT') && o.textContent.toLowerCase().includes('binance')).value""")
    page.select_option(f"{form} select[name=market]", value)


def _run_backtest(page, platform, fast: int, slow: int) -> str:
    page.goto(f"{platform.url}/backtests/")
    form = "#backtest-form"
    page.select_option(f"{form} select[name=strategy]", "crossover")
    _fill_params(page, form, {"fast_period": fast, "slow_period": slow})
    _choose_market(page, form)
    page.fill(f"{form} input[name=since]", "2026-01-01 00:00")
    page.fill(f"{form} input[name=until]", "2026-01-01 10:00")
    page.click(f"{form} button[type=submit]")
    page.wait_for_url(f"{platform.url}/backtests/*/")
    # The run goes through Celery (eager under `manage.py run`, a worker in production): the page shows
    # its progress until it ends, then reloads itself with the results.
    page.wait_for_selector("#metrics", timeout=30_000)
    assert page.locator("#progress-section").is_hidden()
    return page.url


def _fill_params(page, form: str, params: dict) -> None:
    for name, value in params.items():
        page.fill(f"{form} [name=param-crossover-{name}]", str(value))


def test_a_backtest_from_the_page_to_a_paper_bot(browser, platform, tmp_path):
    _import_history(platform, tmp_path)
    page = log_in(browser, platform, "carol", width=1280)
    first = _run_backtest(page, platform, 5, 20)
    # The results: metrics, the equity curve with its drawdown, the price with the trades, the trades.
    assert page.locator("#metrics tr[data-metric=trades] td.num").first.inner_text().strip() not in ("", "—", "0")
    assert page.locator("#equity-chart svg").count() == 1
    assert page.locator("#price-chart svg").count() == 1
    trades = page.locator("#trades tbody tr").count()
    assert trades >= 2
    assert page.locator("#trades tbody tr").first.locator("td.side-buy").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "backtest-result-1280.png"), full_page=True)

    # The trades as CSV: a header and one line per fill shown.
    with page.expect_download() as download:
        page.click("text=Trades as CSV")
    lines = open(download.value.path()).read().strip().splitlines()
    assert lines[0].lower().startswith("time") and len(lines) == trades + 1

    # A second run of the same strategy: compared side by side with the first.
    second = _run_backtest(page, platform, 10, 30)
    assert first != second
    page.click("text=Compare side by side")
    page.wait_for_url(f"{platform.url}/backtests/compare/*")
    headers = page.locator("table thead th").all_inner_texts()
    assert any(first.rstrip("/").rsplit("/", 1)[1] in h for h in headers)
    assert any(second.rstrip("/").rsplit("/", 1)[1] in h for h in headers)
    page.screenshot(path=str(SHOTS / "backtest-compare-1280.png"), full_page=True)

    # A paper bot with these settings: created stopped, on the run's market and strategy.
    page.goto(second)
    page.click("text=Start a paper bot with these settings")
    page.wait_for_url(f"{platform.url}/bots/*/")
    assert "crossover" in page.content().lower()
    assert page.csp_violations == []

    # Bob sees none of it.
    bob = log_in(browser, platform, "bob", width=1280)
    first_id = first.rstrip("/").rsplit("/", 1)[1]
    for url in (first, f"{first}trades.csv", f"{first}snapshot.json"):
        assert bob.request.get(url).status == 404, url
    assert bob.request.post(f"{first}paper-bot/").status in (403, 404)  # no CSRF token, and not hers anyway
    bob.goto(f"{platform.url}/backtests/compare/?ids={first_id}")  # answers, with none of carol's runs
    assert f"/backtests/{first_id}/" not in bob.content()
    bob.goto(f"{platform.url}/backtests/")
    assert "No backtests yet." in bob.locator("#runs").inner_text()
    bob.context.close()

    # Without JavaScript the results render all the same; at a phone's width too.
    for width in (1280, 390):
        plain = log_in(browser, platform, "carol", javascript=False, width=width)
        plain.goto(first)
        assert plain.locator("#metrics").is_visible() and plain.locator("#equity-chart svg").count() == 1
        plain.screenshot(path=str(SHOTS / f"backtest-result-without-javascript-{width}.png"), full_page=True)
        assert fits(plain), width
        plain.goto(f"{platform.url}/backtests/")
        plain.screenshot(path=str(SHOTS / f"backtests-without-javascript-{width}.png"), full_page=True)
        assert plain.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), width
        plain.context.close()
    page.context.close()


def test_a_sweep_fills_its_table_and_sorts_by_a_column(browser, platform, tmp_path):
    _import_history(platform, tmp_path)
    for width in (1280, 390):
        page = log_in(browser, platform, "carol", width=width)
        page.goto(f"{platform.url}/backtests/")
        form = "#sweep-form"
        page.select_option(f"{form} select[name=strategy]", "crossover")
        # fast_period from its own inputs (built from the strategy's schema), slow_period as a list.
        for part, value in (("from", 3), ("to", 9), ("step", 3)):
            page.fill(f"{form} [name=param-crossover-fast_period-{part}]", str(value))
        page.fill(f"{form} [name=ranges]", "slow_period = 20, 30")
        _choose_market(page, form)
        page.fill(f"{form} input[name=since]", "2026-01-01 00:00")
        page.fill(f"{form} input[name=until]", "2026-01-01 07:00")
        page.fill(f"{form} input[name=oos_since]", "2026-01-01 07:00")
        # With JavaScript only the chosen strategy's inputs show.
        assert page.locator(f"{form} fieldset.params[data-strategy=rsi]").is_hidden()
        assert page.locator(f"{form} fieldset.params[data-strategy=crossover]").is_visible()
        page.screenshot(path=str(SHOTS / f"backtests-{width}.png"), full_page=True)
        assert fits(page), width
        page.click(f"{form} button[type=submit]")
        page.wait_for_url(f"{platform.url}/backtests/sweeps/*/")
        page.wait_for_function("() => document.getElementById('sweep-done').textContent.trim() === '6'",
                               timeout=60_000)
        assert page.locator("#sweep-table tbody tr").count() == 6
        # Sort by Sharpe: a click orders the rows (descending first, then ascending), no reload.
        page.click("#sweep-table th a[data-sort=return_pct]")
        values = _column(page, "return_pct")
        assert values == sorted(values, reverse=True) and len(set(values)) > 1
        assert page.inner_text("#sweep-table th a[data-sort=return_pct]").endswith("\u2193")
        assert not page.inner_text("#sweep-table th a[data-sort=net_profit]").endswith("\u2193")
        page.click("#sweep-table th a[data-sort=return_pct]")
        assert _column(page, "return_pct") == sorted(values)
        assert page.inner_text("#sweep-table th a[data-sort=return_pct]").endswith("\u2191")
        page.screenshot(path=str(SHOTS / f"backtest-sweep-{width}.png"), full_page=True)
        # Nothing scrolls sideways, the table included (a phone leaves out the less important columns).
        assert fits(page), width
        assert page.csp_violations == []
        page.context.close()


def _column(page, key: str) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all(
        f"#sweep-table tbody td[data-key={key}]", "tds => tds.map(td => td.dataset.value)") if v != ""]


def test_history_is_downloaded_from_the_page(browser, platform):
    """A download from the simulator's klines (a Celery task) ends with its row done and the series listed."""
    from datetime import UTC, datetime, timedelta

    for width in (1280, 390):
        page = log_in(browser, platform, "bob", width=width)
        page.goto(f"{platform.url}/market/history/")
        _choose_market(page, "#download-form")
        since = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
        page.fill("#download-form input[name=since]", since)
        page.click("#download-form button[type=submit]")
        page.wait_for_url(f"{platform.url}/market/history/")
        row = page.locator("#downloads tbody tr").first
        page.screenshot(path=str(SHOTS / f"history-{width}.png"), full_page=True)
        page.wait_for_function(
            "() => document.querySelector('#downloads tbody tr [data-field=status]').textContent.trim() === 'done'",
            timeout=30_000)
        assert row.locator("progress").get_attribute("value") in ("1", "1.0")
        # What it stored (the second download finds the range already there: resumable, it stores none).
        assert int(row.locator("td.num").first.inner_text()) > 0 or width == 390
        assert "BTC/USDT" in page.locator("#series").inner_text()
        page.screenshot(path=str(SHOTS / f"history-{width}.png"), full_page=True)
        assert fits(page), width
        assert page.csp_violations == []
        page.context.close()
