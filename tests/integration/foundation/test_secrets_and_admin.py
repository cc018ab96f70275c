"""API secrets are encrypted at rest and never shown back; admin pages load and are scoped."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from bots.models import Bot, BotEvent, BotStatus, ExchangeAccount, Order
from marketdata.models import Exchange

pytestmark = pytest.mark.django_db

SECRET = "sk-very-secret-9f8e7d6c5b4a"
API_KEY = "ak-public-key-1234WXYZ"


@pytest.fixture
def account(alice, catalogue):
    return ExchangeAccount.objects.create(
        owner=alice, exchange=Exchange.objects.get(code="binance"), label="main", api_key=API_KEY, api_secret=SECRET
    )


@pytest.fixture
def staff_alice(alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    perms = Permission.objects.filter(content_type__app_label="bots")
    alice.user_permissions.add(*perms)
    return alice


def test_api_secret_is_not_in_plain_text_in_the_database_row(account):
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret FROM bots_exchangeaccount WHERE id = %s", [account.id])
        raw_key, raw_secret = cursor.fetchone()
    assert SECRET not in raw_secret and API_KEY not in raw_key
    assert raw_secret.startswith("fernet:")
    reloaded = ExchangeAccount.objects.get(pk=account.pk)
    assert reloaded.api_secret == SECRET and reloaded.masked_key == "…WXYZ"


def test_admin_pages_never_show_a_secret_back(admin_client, account):
    for url in (reverse("admin:bots_exchangeaccount_change", args=[account.pk]),
                reverse("admin:bots_exchangeaccount_changelist")):
        body = admin_client.get(url).content.decode()
        assert SECRET not in body and API_KEY not in body


def test_saving_an_account_in_admin_with_empty_secret_fields_keeps_the_secrets(admin_client, account, alice):
    url = reverse("admin:bots_exchangeaccount_change", args=[account.pk])
    response = admin_client.post(url, {"owner": alice.pk, "exchange": account.exchange_id, "label": "renamed",
                                       "api_key": "", "api_secret": "", "passphrase": ""})
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.label, account.api_secret, account.api_key) == ("renamed", SECRET, API_KEY)


def test_every_admin_changelist_and_add_page_loads_for_a_superuser(admin_client, make_bot, alice, account):
    bot = make_bot(alice)
    Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"))
    for model in ("bot", "order", "fill", "position", "botevent", "exchangeaccount"):
        assert admin_client.get(reverse(f"admin:bots_{model}_changelist")).status_code == 200, model
    for model in ("exchange", "market"):
        assert admin_client.get(reverse(f"admin:marketdata_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:bots_bot_add")).status_code == 200
    assert admin_client.get(reverse("admin:bots_bot_change", args=[bot.pk])).status_code == 200
    assert admin_client.get(reverse("admin:django_celery_beat_periodictask_changelist")).status_code == 200


def test_orders_are_read_only_in_admin(admin_client, make_bot, alice):
    order = Order.objects.create(bot=make_bot(alice), side="buy", quantity=Decimal("1"))
    assert admin_client.get(reverse("admin:bots_order_add")).status_code == 403
    body = admin_client.get(reverse("admin:bots_order_change", args=[order.pk])).content.decode()
    assert 'name="quantity"' not in body


def test_a_staff_user_sees_only_their_own_bots_and_orders(client, staff_alice, bob, make_bot):
    mine = make_bot(staff_alice, name="alice-bot")
    theirs = make_bot(bob, name="bob-bot")
    Order.objects.create(bot=theirs, side="buy", quantity=Decimal("1"), client_order_id="bob-order-1")
    client.force_login(staff_alice)
    body = client.get(reverse("admin:bots_bot_changelist")).content.decode()
    assert "alice-bot" in body and "bob-bot" not in body
    assert client.get(reverse("admin:bots_bot_change", args=[theirs.pk])).status_code in (302, 404)
    assert client.get(reverse("admin:bots_bot_change", args=[mine.pk])).status_code == 200
    assert "bob-order-1" not in client.get(reverse("admin:bots_order_changelist")).content.decode()


def test_admin_start_action_requests_start_and_records_a_bot_event(admin_client, make_bot, alice):
    bot = make_bot(alice)
    response = admin_client.post(reverse("admin:bots_bot_changelist"),
                                 {"action": "start_bots", "_selected_action": [bot.pk]})
    assert response.status_code == 302
    bot.refresh_from_db()
    assert bot.status == BotStatus.STARTING
    event = BotEvent.objects.get(bot=bot, kind="status")
    assert "admin" in event.data["actor"]


def test_admin_stop_and_pause_actions_set_the_requested_state(admin_client, make_bot, alice):
    bot = make_bot(alice, status=BotStatus.RUNNING)
    admin_client.post(reverse("admin:bots_bot_changelist"), {"action": "pause_bots", "_selected_action": [bot.pk]})
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.PAUSED
    admin_client.post(reverse("admin:bots_bot_changelist"), {"action": "stop_bots", "_selected_action": [bot.pk]})
    assert Bot.objects.get(pk=bot.pk).status == BotStatus.STOPPED
    assert BotEvent.objects.filter(bot=bot, kind="status").count() == 2


def test_starting_a_live_bot_without_account_and_confirmation_is_refused(make_bot, alice):
    from bots.services import start_bot

    bot = make_bot(alice)
    bot.mode = "live"  # as an unsaved form would have it: the service checks before asking the engine
    with pytest.raises(ValueError, match="explicit confirmation"):
        start_bot(bot)
    bot.refresh_from_db()
    assert bot.status == BotStatus.STOPPED


def test_admin_rejects_strategy_parameters_that_do_not_fit_the_schema(admin_client, catalogue, alice):
    from marketdata.models import Market

    market = Market.objects.get(exchange__code="simulator", symbol="BTC/USDT")
    form = {"owner": alice.pk, "name": "bad params", "exchange": market.exchange_id, "market": market.pk,
            "strategy": "crossover", "params": '{"fast_period": 50, "slow_period": 10}', "mode": "paper",
            "capital": "1000", "order_size": "100", "max_open_orders": "1", "cooldown_seconds": "0",
            "orders-TOTAL_FORMS": "0", "orders-INITIAL_FORMS": "0",
            "positions-TOTAL_FORMS": "0", "positions-INITIAL_FORMS": "0"}
    response = admin_client.post(reverse("admin:bots_bot_add"), form)
    assert response.status_code == 200  # the form is shown again, with the error, nothing saved
    assert "slow_period" in response.content.decode()
    assert not Bot.objects.filter(name="bad params").exists()
    form["params"] = '{"fast_period": 5, "slow_period": 20}'
    response = admin_client.post(reverse("admin:bots_bot_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Bot.objects.get(name="bad params").params["slow_period"] == 20


def test_an_admin_edit_of_a_running_bot_goes_through_the_portals_service(admin_client, make_bot, alice, settings,
                                                                         django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    bot = make_bot(alice, status=BotStatus.RUNNING)
    form = {"owner": alice.pk, "name": bot.name, "exchange": bot.exchange_id, "market": bot.market_id,
            "strategy": "crossover", "params": '{"fast_period": 4, "slow_period": 9}', "mode": "paper",
            "capital": "1000", "order_size": "150", "max_open_orders": "1", "cooldown_seconds": "0",
            "orders-TOTAL_FORMS": "0", "orders-INITIAL_FORMS": "0",
            "positions-TOTAL_FORMS": "0", "positions-INITIAL_FORMS": "0"}
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:bots_bot_change", args=[bot.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]
    bot.refresh_from_db()
    assert bot.order_size == Decimal("150") and bot.params["fast_period"] == 4
    event = BotEvent.objects.get(bot=bot, kind="settings")
    assert "order_size" in event.message and event.data["actor"].startswith("admin")
    message = async_to_sync(get_channel_layer().receive)(settings.ENGINE_CONTROL_CHANNEL)
    assert (message["action"], message["bot_id"]) == ("reload", bot.pk)  # the engine hosting it reloads
