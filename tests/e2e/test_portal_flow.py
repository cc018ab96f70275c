"""A user's whole trip through the portal in a real browser, and a second user who sees none of it."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import ROOT, log_in

pytestmark = pytest.mark.e2e
SHOTS = ROOT / "docs" / "screenshots"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def create_paper_dca_bot(page, platform, name: str) -> int:
    page.goto(f"{platform.url}/bots/new/")
    page.fill("#id_name", name)
    page.select_option("#id_market", label="BTC/USDT @ Simulator (Binance protocol)")
    page.select_option("#id_strategy", "dca")
    assert page.is_hidden("fieldset[data-strategy=crossover]")
    page.fill("#id_param-dca-interval_seconds", "2")
    page.fill("#id_capital", "10000")
    page.fill("#id_order_size", "100")
    page.fill("#id_stop_loss_pct", "2")
    page.fill("#id_take_profit_pct", "3")
    page.check("input[name=mode][value=paper]")
    assert page.is_hidden(".live-only")
    page.click("#bot-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/bots/\d+/$"))
    return int(re.search(r"/bots/(\d+)/", page.url).group(1))


def test_alice_creates_starts_watches_and_stops_a_paper_bot_and_bob_sees_none_of_it(browser, platform):
    alice = log_in(browser, platform, "alice")
    assert "You have no bots yet" in alice.content()
    bot_id = create_paper_dca_bot(alice, platform, "E2E DCA")
    wait_until(lambda: alice.text_content("#live-status") == "live", 10, "the live socket")
    alice.click("button.btn-start")
    wait_until(lambda: alice.text_content("#status") == "running", 15, "the engine to run the bot")

    # The price shows, then changes within 2 seconds.
    first = wait_until(lambda: (t := alice.text_content("#last-price")) != "—" and t, 10, "a first price")
    started = time.monotonic()
    wait_until(lambda: alice.text_content("#last-price") != first, 2.0, "the price to change")
    changed_after = time.monotonic() - started
    # An order appears (DCA buys on its first tick) and is drawn on the chart once filled.
    wait_until(lambda: alice.query_selector("#orders tbody tr[data-order]"), 15, "an order row")
    wait_until(lambda: alice.query_selector("#chart svg rect.candle"), 10, "candles on the chart")

    # A dropped socket shows offline, reconnects by itself and reloads the snapshot.
    snapshots: list[str] = []
    alice.on("request", lambda r: snapshots.append(r.url) if "snapshot.json" in r.url else None)
    alice.evaluate("PortalLive.instances[0].ws.close()")
    wait_until(lambda: "offline" in alice.text_content("#live-status"), 2, "the offline badge")
    wait_until(lambda: alice.text_content("#live-status") == "live", 10, "the socket to reconnect")
    wait_until(lambda: snapshots, 5, "the snapshot to reload after reconnecting")

    # Bob, signed in at the same time, sees nothing of alice's: not on his pages, not by id, not live.
    bob = log_in(browser, platform, "bob")
    assert "You have no bots yet" in bob.content() and "E2E DCA" not in bob.content()
    assert bob.goto(f"{platform.url}/bots/{bot_id}/").status == 404
    assert bob.goto(f"{platform.url}/bots/{bot_id}/snapshot.json").status == 404
    bob.goto(f"{platform.url}/")
    closed = bob.evaluate("""(id) => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/ws/bots/${id}/`); const got = [];
        ws.onmessage = (e) => got.push(e.data);
        ws.onclose = (e) => resolve({code: e.code, got: got});
        setTimeout(() => resolve("timeout"), 5000);
    })""", bot_id)
    assert closed == {"code": 4404, "got": []}  # refused with a code the page can read, and nothing sent
    received = bob.evaluate("""() => new Promise((resolve) => {
        const ws = new WebSocket(`ws://${location.host}/ws/live/`); const got = [];
        ws.onmessage = (e) => got.push(e.data);
        setTimeout(() => { ws.close(); resolve(got); }, 3000);
    })""")
    assert received == []

    # Screenshots for the README (dashboard and bot page from this run).
    SHOTS.mkdir(parents=True, exist_ok=True)
    alice.screenshot(path=str(SHOTS / "bot.png"), full_page=True)
    alice.goto(f"{platform.url}/")
    wait_until(lambda: alice.text_content(f"tr[data-bot='{bot_id}'] [data-field=last_price]") != "—", 5,
               "the dashboard's live price")
    alice.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    alice.goto(f"{platform.url}/market/")
    wait_until(lambda: alice.text_content("tr[data-exchange=simulator] [data-field=health]") != "no data", 5,
               "the simulator feed's health")
    alice.screenshot(path=str(SHOTS / "market.png"), full_page=True)

    alice.goto(f"{platform.url}/bots/{bot_id}/")
    alice.click("button.btn-stop")
    wait_until(lambda: alice.text_content("#status") == "stopped", 10, "the bot to stop")
    print(f"price changed {changed_after * 1000:.0f} ms after the first one")
    for page in (alice, bob):
        page.context.close()


def test_pages_render_without_javascript(browser, platform):
    page = log_in(browser, platform, "alice", javascript=False)
    for path in ("/", "/orders/", "/bots/new/", "/exchange-accounts/", "/market/"):
        response = page.goto(f"{platform.url}{path}")
        assert response.status == 200, path
        assert page.query_selector("main h1") is not None
    page.context.close()


def test_the_demo_users_bots_trade_live_on_the_dashboard(browser, platform):
    from bots.services.demo import DEMO_PASSWORD

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{platform.url}/accounts/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{platform.url}/")
    cells = page.locator("[data-field=last_price]")
    wait_until(lambda: all(t != "—" for t in cells.all_text_contents()) and cells.count() >= 2, 15,
               "the demo bots' live prices")
    bot_url = page.locator("#bots tbody a").first.get_attribute("href")
    cookies = context.cookies()
    context.close()
    # The same bot page with JavaScript off: the server draws the chart, orders and log itself.
    static = browser.new_context(java_script_enabled=False, viewport={"width": 1300, "height": 900})
    static.add_cookies(cookies)
    page = static.new_page()
    assert page.goto(f"{platform.url}{bot_url}").status == 200
    assert page.query_selector("#chart svg") is not None and page.query_selector("form button.btn-stop")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "bot-without-javascript.png"), full_page=True)
    static.close()

