"""The portal's pages through HTTP: what alice sees and can do with her bots (bob sees none of it)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from bots.models import Bot, BotEvent, ExchangeAccount, Order

pytestmark = pytest.mark.django_db


def bot_form_data(market_id: int, **overrides: object) -> dict[str, object]:
    data = {
        "name": "My crossover", "market": market_id, "strategy": "crossover",
        "param-crossover-fast_period": "5", "param-crossover-slow_period": "20",
        "param-crossover-average": "ema", "param-crossover-timeframe": "tick",
        "capital": "1000", "order_size": "100", "stop_loss_pct": "1.5", "take_profit_pct": "3",
        "max_open_orders": "1", "cooldown_seconds": "0", "mode": "paper",
    }
    data.update(overrides)
    return data


@pytest.fixture
def sim_btc(catalogue):
    from marketdata.models import Market

    return Market.objects.get(exchange__code="simulator", symbol="BTC/USDT")


def test_pages_redirect_anonymous_visitors_to_the_login_form(client):
    for url in ["/", "/orders/", "/bots/new/", "/exchange-accounts/", "/market/", "/dashboard.json"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


def test_login_then_logout_then_password_change(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    new = "n3w-Pa55-word!"
    response = client.post("/accounts/password/", {"old_password": "alice-pass-123",
                                                   "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("n3w-Pa55-word!")
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_signup_creates_an_account_and_can_be_switched_off(client, settings, db):
    page = client.get("/accounts/login/")
    assert b"Sign up" in page.content
    response = client.post("/accounts/signup/", {"username": "carol", "email": "",
                                                 "password1": "c4rol-Pa55-word", "password2": "c4rol-Pa55-word"})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    settings.SIGNUP_ENABLED = False
    client.logout()
    assert client.get("/accounts/signup/").status_code == 404
    assert b"Sign up" not in client.get("/accounts/login/").content


def test_dashboard_shows_alices_bot_with_position_and_pnl(alice_client, alice_bot, bob, make_bot):
    make_bot(bob, name="Bob secret bot")
    page = alice_client.get("/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alice BTC" in html and "Bob secret bot" not in html
    assert "0.01" in html  # the open position
    data = alice_client.get("/dashboard.json").json()
    assert [b["name"] for b in data["bots"]] == ["Alice BTC"]
    assert Decimal(data["bots"][0]["position"]["average_entry"]) == Decimal("50000.12")


def test_dashboard_uses_the_last_published_price_for_unrealised_pnl(alice_client, alice_bot):
    from asgiref.sync import async_to_sync

    from bots import events

    async_to_sync(events.apublish_engine_event)(alice_bot.owner_id, alice_bot.pk, "price",
                                                {"price": Decimal("50100.12"), "bid": None, "ask": None})
    row = alice_client.get("/dashboard.json").json()["bots"][0]
    assert row["last_price"] == "50100.12"
    assert Decimal(row["unrealized_pnl"]) == Decimal("1.0")  # (50100.12 - 50000.12) * 0.01


def test_bot_page_renders_chart_orders_log_and_buttons_without_javascript(alice_client, alice_bot):
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert "<svg" in html and "fill-buy" in html and "line-sl" in html and "line-tp" in html
    assert "bp-alice-open-2" in html and "alice-secret-signal" in html
    for action in ("start", "stop", "pause"):
        assert f"/bots/{alice_bot.pk}/{action}/" in html
    snap = alice_client.get(f"/bots/{alice_bot.pk}/snapshot.json").json()
    assert Decimal(snap["bot"]["position"]["stop_loss_price"]) == 49000
    assert [o["client_order_id"] for o in snap["orders"]] == ["bp-alice-open-2", "bp-alice-filled-1"]


def test_start_pause_stop_buttons_call_the_lifecycle_services(alice_client, alice_bot):
    for action, status in (("start", "starting"), ("pause", "paused"), ("resume", "starting"), ("stop", "stopped")):
        response = alice_client.post(f"/bots/{alice_bot.pk}/{action}/")
        assert response.status_code == 302
        alice_bot.refresh_from_db()
        assert alice_bot.status == status, action
    assert BotEvent.objects.filter(bot=alice_bot, kind="status").count() == 4
    assert alice_client.post(f"/bots/{alice_bot.pk}/explode/").status_code == 404
    assert alice_client.get(f"/bots/{alice_bot.pk}/start/").status_code == 405


def test_creating_a_bot_from_the_schema_form_stores_clean_params(alice_client, sim_btc):
    page = alice_client.get("/bots/new/").content.decode()
    assert 'name="param-crossover-fast_period"' in page and 'name="param-grid-' in page
    response = alice_client.post("/bots/new/", bot_form_data(sim_btc.pk))
    assert response.status_code == 302
    bot = Bot.objects.get(name="My crossover")
    assert bot.params == {"fast_period": 5, "slow_period": 20, "average": "ema", "timeframe": "tick"}
    assert (bot.mode, bot.status, bot.exchange.code, bot.stop_loss_pct) == ("paper", "stopped", "simulator",
                                                                            Decimal("1.5"))


def test_a_bad_form_shows_errors_next_to_fields_and_keeps_what_was_typed(alice_client, sim_btc):
    data = bot_form_data(sim_btc.pk, **{"param-crossover-fast_period": "30", "capital": "50", "name": "Keep me"})
    response = alice_client.post("/bots/new/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please correct the errors below." in html
    assert 'id="id_param-crossover-slow_period-errors"' in html and "greater than the fast period" in html
    assert 'id="id_order_size-errors"' in html and "more than the capital" in html
    assert 'value="Keep me"' in html and 'value="30"' in html
    assert not Bot.objects.exists()


def test_live_mode_needs_an_account_and_an_explicit_confirmation(alice_client, sim_btc, alice_account):
    response = alice_client.post("/bots/new/", bot_form_data(sim_btc.pk, mode="live"))
    html = response.content.decode()
    assert 'id="id_account-errors"' in html and 'id="id_live_confirmed-errors"' in html
    response = alice_client.post("/bots/new/", bot_form_data(sim_btc.pk, mode="live", account=alice_account.pk,
                                                              live_confirmed="on"))
    assert response.status_code == 302
    bot = Bot.objects.get()
    assert (bot.mode, bot.live_confirmed, bot.account_id) == ("live", True, alice_account.pk)


def test_editing_a_bot_keeps_its_params_and_saves_changes(alice_client, alice_bot):
    page = alice_client.get(f"/bots/{alice_bot.pk}/edit/").content.decode()
    assert 'name="param-crossover-fast_period" value="3"' in page
    data = bot_form_data(alice_bot.market_id, name="Renamed", **{"param-crossover-fast_period": "4"})
    assert alice_client.post(f"/bots/{alice_bot.pk}/edit/", data).status_code == 302
    alice_bot.refresh_from_db()
    assert alice_bot.name == "Renamed" and alice_bot.params["fast_period"] == 4
    assert BotEvent.objects.filter(bot=alice_bot, kind="settings").exists()


def test_orders_page_filters_and_pages_back_with_a_constant_number_of_queries(
        alice_client, alice_bot, django_assert_max_num_queries):
    Order.objects.bulk_create([Order(bot=alice_bot, side="buy", quantity=Decimal("0.001"), status="canceled",
                                     client_order_id=f"bp-bulk-{i:03d}") for i in range(120)])
    seen: list[str] = []
    url = "/orders/"
    while url:
        with django_assert_max_num_queries(6):
            html = alice_client.get(url).content.decode()
        seen += re.findall(r"bp-(?:bulk|alice)-[\w-]+", html)
        older = re.search(r'href="(\?[^"]*before=\d+)" rel="next"', html)
        url = "/orders/" + older.group(1).replace("&amp;", "&") if older else ""
    assert len(seen) == len(set(seen)) == 122  # every order once, across three pages
    assert seen[0] == "bp-bulk-119" and seen[-1] == "bp-alice-filled-1"  # newest first
    filtered = alice_client.get("/orders/?status=open&side=sell").content.decode()
    assert "bp-alice-open-2" in filtered and "bp-bulk-" not in filtered and "1 order shown" in filtered
    assert alice_client.get("/orders/?status=nonsense&before=x").status_code == 200


def test_dashboard_query_count_does_not_grow_with_bots(alice_client, alice, make_bot, django_assert_max_num_queries):
    for i in range(3):
        make_bot(alice, name=f"b{i}")
    with django_assert_max_num_queries(7) as few:
        alice_client.get("/")
    for i in range(20):
        make_bot(alice, name=f"more{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        alice_client.get("/")


def test_exchange_keys_are_write_only_and_masked(alice_client, catalogue):
    from marketdata.models import Exchange

    ex = Exchange.objects.get(code="binance")
    response = alice_client.post("/exchange-accounts/", {"exchange": ex.pk, "label": "main",
                                                         "api_key": "AKIAVERYSECRET9876", "api_secret": "s3cr3t-value"})
    assert response.status_code == 302
    html = alice_client.get("/exchange-accounts/").content.decode()
    assert "…9876" in html and "AKIAVERYSECRET" not in html and "s3cr3t-value" not in html
    again = alice_client.post("/exchange-accounts/", {"exchange": ex.pk, "label": "main",
                                                      "api_key": "OTHERKEY", "api_secret": "other-secret"})
    html = again.content.decode()
    assert "already have an account" in html and "OTHERKEY" not in html and "other-secret" not in html
    account = ExchangeAccount.objects.get()
    assert alice_client.post(f"/exchange-accounts/{account.pk}/delete/").status_code == 302
    assert not ExchangeAccount.objects.exists()


def test_an_account_in_use_by_a_bot_is_not_removed(alice_client, alice, alice_account, make_bot):
    make_bot(alice, mode="live", account=alice_account, live_confirmed=True)
    response = alice_client.post(f"/exchange-accounts/{alice_account.pk}/delete/", follow=True)
    assert "Bots still use this account" in response.content.decode()
    assert ExchangeAccount.objects.filter(pk=alice_account.pk).exists()


def test_market_data_page_shows_published_feed_health(alice_client, catalogue):
    from asgiref.sync import async_to_sync

    from bots import events

    html = alice_client.get("/market/").content.decode()
    assert "No market-data feed has reported yet" in html and "Simulator" in html
    metrics = {"exchanges": {"simulator": {"messages": 10, "messages_per_s": 12.5, "reconnects": 2,
                                           "parse_errors": 0, "last_message_age_s": 0.1, "uptime_s": 30.0,
                                           "health": {"status": "healthy"}}},
               "subscriptions": [{"exchange": "simulator", "channel": "ticker", "symbol": "BTC/USDT",
                                  "latency_exchange_to_receive_ms": {"p50": 1.5, "p99": 4.25, "max": 5}}]}
    async_to_sync(events.apublish_feed_health)(metrics)
    data = alice_client.get("/market/health.json").json()
    sim = data["exchanges"]["simulator"]
    assert (sim["health"]["status"], sim["messages_per_s"], sim["reconnects"]) == ("healthy", 12.5, 2)
    assert sim["latency_ms"] == {"p50": 1.5, "p99": 4.25}
    assert "healthy" in alice_client.get("/market/").content.decode()
    reverse("market-health")


def test_realised_pnl_is_summed_exactly_over_all_positions(alice_client, alice_bot):
    from datetime import UTC, datetime

    from bots.models import Position

    Position.objects.filter(bot=alice_bot).update(realized_pnl=Decimal("0.100000000001"))
    Position.objects.create(bot=alice_bot, market=alice_bot.market, quantity=0, realized_pnl=Decimal("0.2"),
                            opened_at=datetime(2025, 1, 1, tzinfo=UTC), closed_at=datetime(2025, 1, 2, tzinfo=UTC))
    row = alice_client.get("/dashboard.json").json()["bots"][0]
    assert Decimal(row["realized_pnl"]) == Decimal("0.300000000001")
    snap = alice_client.get(f"/bots/{alice_bot.pk}/snapshot.json").json()
    assert Decimal(snap["bot"]["realized_pnl"]) == Decimal("0.300000000001")


def test_prices_published_by_the_engine_become_candles_on_the_bot_page(alice_client, alice_bot):
    from datetime import UTC, datetime

    from asgiref.sync import async_to_sync

    from bots import events

    def price(value: str, minute: int, second: int) -> None:
        when = datetime(2026, 3, 1, 10, minute, second, tzinfo=UTC)
        async_to_sync(events.apublish_engine_event)(alice_bot.owner_id, alice_bot.pk, "price",
                                                    {"price": Decimal(value), "time": when})

    for value, second in (("100.5", 1), ("103", 20), ("99.25", 40), ("101", 59)):
        price(value, 0, second)
    price("102", 1, 2)  # the next minute closes the first candle
    first, current = alice_client.get(f"/bots/{alice_bot.pk}/snapshot.json").json()["candles"]
    assert first["t"] == int(datetime(2026, 3, 1, 10, 0, tzinfo=UTC).timestamp())
    assert [Decimal(first[k]) for k in "ohlc"] == [Decimal("100.5"), Decimal(103), Decimal("99.25"), Decimal(101)]
    # The open candle too, as the engine publishes from this process (the single-process run).
    assert (current["t"] - first["t"], Decimal(current["c"])) == (60, Decimal(102))
    html = alice_client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert 'class="candle up"' in html  # drawn on the server too: the page needs no JavaScript for it


def test_last_prices_reach_the_cache_at_most_once_a_second_yet_pages_here_show_the_newest(alice_client, alice_bot):
    from asgiref.sync import async_to_sync
    from django.core.cache import cache

    from bots import events
    from bots.price_memory import LAST_PRICE_KEY, forget_price_memory

    forget_price_memory(clock=lambda: 500.0)  # time stands still: the three prices fall in one second
    for value in ("100", "101", "102"):
        async_to_sync(events.apublish_engine_event)(alice_bot.owner_id, alice_bot.pk, "price", {"price": value})
    assert cache.get(LAST_PRICE_KEY.format(alice_bot.pk))["price"] == "100"  # the first went out at once
    assert alice_client.get("/dashboard.json").json()["bots"][0]["last_price"] == "102"  # same process: newest
