"""Everyday use: numbers at the market's precision, P&L in the quote currency, the actions a bot's
state allows, closing a stopped bot's position, the portfolio page, the bot form, error pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from bots.models import Bot, BotEvent, DailyPnlSnapshot, Position

pytestmark = pytest.mark.django_db


def buttons(html: str) -> set[str]:
    """The bot page's visible action buttons."""
    return set(re.findall(r'data-action="(\w+)">', html))


def publish_price(bot, value: str) -> None:
    from asgiref.sync import async_to_sync

    from bots import events

    async_to_sync(events.apublish_engine_event)(bot.owner_id, bot.pk, "price", {"price": Decimal(value)})


def test_prices_and_quantities_show_at_the_markets_tick_and_step(alice_client, alice_bot):
    Position.objects.filter(bot=alice_bot).update(average_entry=Decimal("149.439251573034"),
                                                  quantity=Decimal("0.012345678"))
    publish_price(alice_bot, "150.123456")
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert "149.44" in html and "149.439251573034" not in html  # BTC/USDT: tick 0.01
    assert "0.01235" in html and "0.012345678" not in html  # step 0.00001
    assert ">150.12<" in html
    dashboard = alice_client.get("/").content.decode()
    assert "150.12" in dashboard and "150.123456" not in dashboard


def test_pnl_is_in_the_quote_currency_with_two_decimals_and_a_percentage(alice_client, alice_bot):
    publish_price(alice_bot, "51000.12")  # (51000.12 - 50000.12) * 0.01 = 10 on 1000 capital
    html = alice_client.get("/").content.decode()
    assert re.search(r"10\.00 USDT <span class=\"small pct\">\+1\.00%</span>", html)
    row = alice_client.get("/dashboard.json").json()["bots"][0]
    assert (row["quote"], row["pnl_pct"], row["price_dp"], row["qty_dp"]) == ("USDT", "1.00", 2, 5)
    assert row["market"] == "BTC/USDT @ Simulator (Binance protocol)"


def test_one_market_name_on_every_page(alice_client, alice_bot):
    name = "BTC/USDT @ Simulator (Binance protocol)"
    for url in ("/", f"/bots/{alice_bot.pk}/", "/orders/", "/bots/new/"):
        assert name in alice_client.get(url).content.decode(), url


def test_the_bot_page_offers_only_what_the_bots_state_allows(alice_client, alice_bot):
    page = lambda: alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()  # noqa: E731
    Position.objects.filter(bot=alice_bot).update(quantity=0, closed_at=datetime(2026, 1, 2, tzinfo=UTC))
    assert buttons(page()) == {"start"}
    for status, expected in (("running", {"pause", "stop"}), ("paused", {"resume", "stop"}),
                             ("error", {"start", "stop"})):
        Bot.objects.filter(pk=alice_bot.pk).update(status=status)
        assert buttons(page()) == expected, status
    Bot.objects.filter(pk=alice_bot.pk).update(status="running")
    response = alice_client.post(f"/bots/{alice_bot.pk}/start/", follow=True)
    assert "cannot start now" in response.content.decode()
    assert Bot.objects.get(pk=alice_bot.pk).status == "running"


def test_a_stopped_bot_holding_a_position_says_so_and_offers_to_close_it(alice_client, bob_client, alice_bot):
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert buttons(html) == {"start", "close"}
    assert "is stopped but still holds" in html and 'id="holding-notice" hidden' not in html
    assert bob_client.post(f"/bots/{alice_bot.pk}/close/").status_code == 404
    response = alice_client.post(f"/bots/{alice_bot.pk}/close/")
    assert response.status_code == 302
    alice_bot.refresh_from_db()
    assert alice_bot.status == "paused" and alice_bot.status_reason.startswith("Closing the position")
    assert BotEvent.objects.filter(bot=alice_bot, kind="status", message__contains="Closing").exists()
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert buttons(html) == {"resume", "stop"}


def test_errors_say_greater_than_zero_not_scientific_notation(alice_client, alice_bot):
    from .test_pages import bot_form_data

    html = alice_client.post("/bots/new/", bot_form_data(alice_bot.market_id, capital="0",
                                                         order_size="-1")).content.decode()
    assert "Must be greater than 0." in html and "1E-12" not in html and "E-" not in html


def test_the_bot_form_shows_strategy_help_as_text_and_marks_required_fields(alice_client, catalogue):
    html = alice_client.get("/bots/new/").content.decode()
    assert "``" not in html
    assert re.search(r'for="id_name">Name <span class="req"', html)
    assert "Fields marked" in html
    # DCA buys the bot's order size: its own "amount" parameter is gone, said once as the order size.
    assert 'name="param-dca-amount"' not in html


def test_the_portfolio_adds_up_every_bot_per_quote_currency(alice_client, bob_client, alice, alice_bot, make_bot):
    other = make_bot(alice, name="Alice ETH", symbol="ETH/USDT", capital=Decimal("500"))
    Position.objects.create(bot=other, market=other.market, quantity=Decimal("0.5"), average_entry=Decimal("2000"),
                            opened_at=datetime(2026, 1, 1, tzinfo=UTC))
    publish_price(alice_bot, "51000.12")  # +10.00
    publish_price(other, "2010")  # +5.00
    today = date.today()
    for days_ago, pnl in ((3, "1"), (2, "4"), (1, "6")):
        DailyPnlSnapshot.objects.create(bot=alice_bot, date=today - timedelta(days=days_ago),
                                        realized=Decimal(pnl), unrealized=0, equity=Decimal(1000) + Decimal(pnl))
    html = alice_client.get("/portfolio/").content.decode()
    assert "1515.00" in html  # equity: 1500 capital + 15 P&L
    assert "+1.00%" in html  # 15 of 1500
    assert ">9.00 <span" in html  # today: 15 now - 6 at yesterday's close
    assert 'data-asset="BTC"' in html and 'data-asset="ETH"' in html and "<polyline" in html
    bob_html = bob_client.get("/portfolio/").content.decode()
    assert "No bots yet" in bob_html and "1515.00" not in bob_html and "polyline" not in bob_html


def test_a_missing_page_is_styled_with_a_way_back(alice_client, settings):
    settings.DEBUG = False
    response = alice_client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404 and "Page not found" in html and 'href="/"' in html


def test_the_login_page_mentions_the_demo_accounts_only_when_they_exist(client, db):
    assert "demo-trader-2026" not in client.get("/accounts/login/").content.decode()
    from bots.services.demo import create_demo_data

    create_demo_data()
    html = client.get("/accounts/login/").content.decode()
    assert "demo" in html and "demo-trader-2026" in html


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code in (301, 302) and response["Location"].endswith("favicon.svg")


def test_the_charts_labels_read_at_the_markets_tick(alice_client, alice_bot):
    from django.core.cache import cache

    from bots import price_memory

    start = int(datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp())
    rows = [[start + 60 * i, "150.123456", "151.987654", "149.111111", "150.555555"] for i in range(5)]
    cache.set(price_memory.CANDLES_KEY.format(alice_bot.pk), rows)
    for url in (f"/bots/{alice_bot.pk}/chart.svg", f"/bots/{alice_bot.pk}/"):
        svg = alice_client.get(url).content.decode()
        labels = re.findall(r'class="label[^"]*">([^<]+)<', svg)
        assert labels and all(not re.search(r"\d\.\d{3,}", t) for t in labels), labels
        assert "150.56" in svg  # the last close, at the tick


def test_a_dca_bot_buys_its_order_size_said_once_on_the_form(alice_client, catalogue):
    from marketdata.models import Market

    from .test_pages import bot_form_data

    market = Market.objects.get(exchange__code="simulator", symbol="BTC/USDT")
    data = bot_form_data(market.pk, name="Weekly DCA", strategy="dca", order_size="25",
                         **{"param-dca-interval_seconds": "604800", "param-dca-amount": "999"})
    assert alice_client.post("/bots/new/", data).status_code == 302
    bot = Bot.objects.get(name="Weekly DCA")
    assert Decimal(bot.params["amount"]) == Decimal("25") == bot.order_size  # a stray "amount" is ignored
    data["order_size"] = "40"
    assert alice_client.post(f"/bots/{bot.pk}/edit/", data).status_code == 302
    bot.refresh_from_db()
    assert Decimal(bot.params["amount"]) == Decimal("40")


def test_pnl_today_is_measured_exactly_from_the_last_close(alice, alice_bot, make_bot):
    from bots.services.portfolio import portfolio

    other = make_bot(alice, name="Alice two")
    yesterday = date.today() - timedelta(days=1)
    for bot, pnl in ((alice_bot, "0.100000000001"), (other, "0.2")):
        DailyPnlSnapshot.objects.create(bot=bot, date=yesterday, realized=Decimal(pnl), unrealized=0,
                                        equity=Decimal(1000) + Decimal(pnl))
    book = portfolio(alice)["books"][0]
    assert book["history"][0] == (yesterday, Decimal("0.300000000001"))
    assert book["pnl_today"] == book["pnl"] - Decimal("0.300000000001")


def test_after_closing_the_page_says_the_position_is_closed(alice_client, alice_bot):
    assert alice_client.post(f"/bots/{alice_bot.pk}/close/").status_code == 302
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert 'id="closed-notice" hidden' in html  # still holding: the engine has not sold yet
    Position.objects.filter(bot=alice_bot).update(quantity=0, closed_at=datetime(2026, 1, 2, tzinfo=UTC))
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert 'id="closed-notice" hidden' not in html and "The position is closed" in html
    assert buttons(html) == {"resume", "stop"}
