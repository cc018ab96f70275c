"""Every page of the portal in a real browser, with the Content-Security-Policy on: at a laptop's
1280 px and a phone's 390 px (no sideways scrolling of the page, screenshots for the README), with
JavaScript off where a page must still work, and the live orders page."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from marketdata.catalogue import EXCHANGES, MARKETS
from marketdata.simulator.wire import decimals_of

from .conftest import log_in
from .test_portal_flow import SHOTS, create_paper_dca_bot, wait_until

pytestmark = pytest.mark.e2e

WIDTHS = {"laptop": 1280, "phone": 390}


def demo(browser, platform, **kw):
    from bots.services.demo import DEMO_PASSWORD

    return log_in(browser, platform, "demo", password=DEMO_PASSWORD, **kw)


def first_bot_url(page, platform) -> str:
    page.goto(f"{platform.url}/")
    return page.locator("#bots tbody a").first.get_attribute("href")


def fits(page) -> bool:
    """Neither the page nor any table scrolls sideways: every column shown is on the screen (a
    phone's tables drop their less important columns instead)."""
    return page.evaluate("""() => document.documentElement.scrollWidth <= window.innerWidth + 1 &&
        [...document.querySelectorAll('.table-wrap')].every(w => w.scrollWidth <= w.clientWidth + 1)""")


@pytest.mark.parametrize("device", list(WIDTHS))
def test_every_page_fits_the_screen_and_is_photographed(browser, platform, device):
    page = demo(browser, platform, width=WIDTHS[device])
    bot = first_bot_url(page, platform)
    wait_until(lambda: all(t != "—" for t in page.locator("[data-field=last_price]").all_text_contents()), 15,
               "the demo bots' prices")
    pages = {"dashboard": "/", "bot": bot, "orders": "/orders/", "portfolio": "/portfolio/",
             "notifications": "/notifications/", "new-bot": "/bots/new/", "market": "/market/",
             "not-found": "/no-such-page/"}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in pages.items():
        response = page.goto(f"{platform.url}{path}")
        assert response.status == (404 if name == "not-found" else 200), path
        if name == "bot":
            wait_until(lambda: page.query_selector("#chart svg rect.candle"), 10, "the chart's candles")
        assert fits(page), (device, path)
        page.screenshot(path=str(SHOTS / f"{name}-{WIDTHS[device]}.png"), full_page=True)
    assert page.csp_violations == []
    page.context.close()


def test_the_login_page_names_the_demo_accounts(browser, platform):
    context = browser.new_context(viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(f"{platform.url}/accounts/login/")
    text = page.text_content("#demo-accounts")
    assert "demo" in text and "demo-trader-2026" in text
    page.screenshot(path=str(SHOTS / "login-390.png"), full_page=True)
    context.close()


def test_pages_work_without_javascript(browser, platform):
    page = demo(browser, platform, javascript=False)
    bot = first_bot_url(page, platform)
    for path in ("/portfolio/", "/orders/?status=filled", "/notifications/", bot):
        assert page.goto(f"{platform.url}{path}").status == 200, path
        assert page.query_selector("main h1") is not None
    page.goto(f"{platform.url}/portfolio/")
    assert page.query_selector(".portfolio-chart svg polyline") is not None
    assert page.query_selector("[data-field=equity]").text_content().strip().endswith("USDT")
    # A form posts and comes back without a line of script.
    page.goto(f"{platform.url}/notifications/")
    page.check("input[name=kinds][value=error]")
    page.fill("#id_email", "demo@example.invalid")
    page.click("#notification-form button[type=submit]")
    assert "Notification settings saved" in page.content()
    page.goto(f"{platform.url}{bot}")
    page.screenshot(path=str(SHOTS / "bot-without-javascript-390.png"), full_page=True)
    page.context.close()


def test_the_orders_page_shows_new_orders_live(browser, platform):
    page = demo(browser, platform)
    page.goto(f"{platform.url}/orders/")
    wait_until(lambda: page.text_content("#live-status") == "live", 10, "the live socket")
    before = set(page.eval_on_selector_all("#order-table tbody tr[data-order]", "rs => rs.map(r => r.dataset.order)"))
    # The demo bots trade on every tick: a new order arrives without reloading the page.
    wait_until(lambda: set(page.eval_on_selector_all("#order-table tbody tr[data-order]",
                                                     "rs => rs.map(r => r.dataset.order)")) - before, 30,
               "a pushed order row")
    row = page.locator("#order-table tbody tr[data-order]").first
    cells = row.locator("td").all_text_contents()
    # The quantity is shown at its market's step (the catalogue's): the demo's paper bots trade BTC (0.00001)
    # and ETH (0.0001) on the Binance protocol, its live bots on Coinbase and Kraken (0.00000001); the row is
    # whichever bot's order came first.
    symbol, _, exchange = cells[2].partition(" @ ")
    code = {e["name"]: e["code"] for e in EXCHANGES}[exchange]  # a KeyError names what was not found
    places = decimals_of({m[0]: m[5] for m in MARKETS[code]}[symbol])
    assert re.fullmatch(rf"\d+\.\d{{{places}}}", cells[5]), cells
    assert page.csp_violations == []
    page.context.close()


def test_the_dashboards_pnl_stays_the_bots_total_through_live_position_pushes(browser, platform):
    """A position push carries that position's own realised P&L and the bot's total: the row's P&L is
    the total (as the server renders it), not the last position's alone; and a flat bot's position
    reads "—" after a live close too, as the server renders it (it read "0.00000")."""
    page = demo(browser, platform)
    last_push: dict[int, dict] = {}  # bot id -> its latest bot.position push

    def on_frame(frame) -> None:
        try:
            message = json.loads(frame)
        except (TypeError, ValueError):
            return
        for item in message.get("items", [message]):
            if item.get("type") == "bot.position":
                last_push[item["bot_id"]] = item

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    page.goto(f"{platform.url}/")
    wait_until(lambda: page.text_content("#live-status") == "live", 10, "the live socket")

    def agreed() -> int | None:
        """A flat bot whose last push was a position of its own that is not its whole history (a
        second round trip), and whose row shows the server's P&L for it."""
        server = {b["id"]: b for b in page.request.get(f"{platform.url}/dashboard.json").json()["bots"]}
        for bot_id, push in list(last_push.items()):
            b = server[bot_id]
            if Decimal(push["quantity"]) or (b["position"] and Decimal(b["position"]["quantity"])):
                continue
            if abs(Decimal(push["realized_pnl"]) - Decimal(b["pnl"])) < Decimal("0.05"):
                continue  # its first position (or a wash): both readings agree anyway
            shown = page.text_content(f'tr[data-bot="{bot_id}"] [data-field="pnl"]').split()[0]
            flat = page.text_content(f'tr[data-bot="{bot_id}"] [data-field="position"]')
            if abs(Decimal(shown) - Decimal(b["pnl"])) <= Decimal("0.01") and flat == "—":  # cents; no position
                return bot_id
        return None

    # The demo bots trade every few seconds; a flat bot past its first round trip comes within a minute.
    wait_until(agreed, 90, "a flat bot past its first round trip showing its total P&L", interval=0.5)
    page.context.close()


def test_a_stopped_bot_holding_coins_offers_to_close_them_and_does(browser, platform):
    page = log_in(browser, platform, "bob")
    create_paper_dca_bot(page, platform, "Bob DCA to close")  # buys on its first tick, then every 2 s
    wait_until(lambda: page.text_content("#live-status") == "live", 10, "the live socket")
    assert page.is_visible("form[data-action=start]") and page.is_hidden("form[data-action=stop]")
    page.click("form[data-action=start] button")
    wait_until(lambda: page.text_content("#status") == "running", 15, "the bot to run")
    assert page.is_hidden("form[data-action=start]") and page.is_visible("form[data-action=pause]")
    wait_until(lambda: page.text_content("#position-qty") not in ("—", "0.00000"), 20, "a position")
    page.click("form[data-action=stop] button")
    wait_until(lambda: page.text_content("#status") == "stopped", 10, "the bot to stop")
    wait_until(lambda: page.is_visible("#holding-notice"), 5, "the holding notice")
    assert page.is_visible("form[data-action=close]") and page.is_visible("form[data-action=start]")
    page.screenshot(path=str(SHOTS / "bot-stopped-holding-1280.png"), full_page=True)
    page.click("form[data-action=close] button")
    wait_until(lambda: page.text_content("#position-qty") in ("—", "0.00000"), 20, "the position to be sold")
    assert page.text_content("#status") == "paused" and page.is_hidden("#holding-notice")
    wait_until(lambda: page.is_visible("#closed-notice"), 5, "the position-closed notice")
    rows = page.locator("#orders tbody tr[data-order]").first.locator("td").all_text_contents()
    assert rows[1] == "sell" and rows[5] == "filled", rows
    page.click("form[data-action=stop] button")
    page.context.close()
