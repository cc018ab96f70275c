"""Isolation: bob can never see, change or receive alice's bot, order, position or account, through
any URL; the admin sees everything in the admin."""

from __future__ import annotations

import pytest

from bots.models import Bot, BotStatus, ExchangeAccount

pytestmark = pytest.mark.django_db


def alice_urls(bot_id: int) -> list[str]:
    return [f"/bots/{bot_id}/", f"/bots/{bot_id}/snapshot.json", f"/bots/{bot_id}/edit/"]


def test_bob_gets_404_for_every_page_of_alices_bot(bob_client, alice_bot):
    for url in alice_urls(alice_bot.pk):
        assert bob_client.get(url).status_code == 404, url


def test_a_bot_that_does_not_exist_looks_the_same_as_alices(bob_client, alice_bot):
    missing = alice_bot.pk + 1000
    for theirs, nothing in zip(alice_urls(alice_bot.pk), alice_urls(missing), strict=True):
        assert bob_client.get(theirs).content == bob_client.get(nothing).content


def test_bob_cannot_start_stop_pause_or_edit_alices_bot(bob_client, alice_bot):
    for action in ("start", "stop", "pause", "resume"):
        assert bob_client.post(f"/bots/{alice_bot.pk}/{action}/").status_code == 404
    response = bob_client.post(f"/bots/{alice_bot.pk}/edit/", {"name": "pwned"})
    assert response.status_code == 404
    alice_bot.refresh_from_db()
    assert (alice_bot.name, alice_bot.status) == ("Alice BTC", BotStatus.STOPPED)
    assert not alice_bot.events.filter(kind="status").exists()


def test_bobs_pages_show_nothing_of_alices(bob_client, alice_bot, alice_account):
    for url in ["/", "/dashboard.json", "/orders/", f"/orders/?bot={alice_bot.pk}", "/exchange-accounts/",
                "/bots/new/", "/market/"]:
        html = bob_client.get(url).content.decode()
        for secret in ("Alice BTC", "bp-alice-", "alice-sim", "…1234", "alice-secret-signal"):
            assert secret not in html, (url, secret)
    assert bob_client.get("/dashboard.json").json() == {"bots": []}


def test_bob_cannot_remove_alices_account_or_use_it_for_his_bot(bob_client, alice_account, catalogue):
    from marketdata.models import Market

    assert bob_client.post(f"/exchange-accounts/{alice_account.pk}/delete/").status_code == 404
    assert ExchangeAccount.objects.filter(pk=alice_account.pk).exists()
    market = Market.objects.get(exchange__code="simulator", symbol="BTC/USDT")
    response = bob_client.post("/bots/new/", {
        "name": "bob live", "market": market.pk, "strategy": "dca", "capital": "100", "order_size": "10",
        "max_open_orders": "1", "cooldown_seconds": "0", "mode": "live", "account": alice_account.pk,
        "live_confirmed": "on"})
    assert response.status_code == 200 and 'id="id_account-errors"' in response.content.decode()
    assert not Bot.objects.filter(name="bob live").exists()


def test_alice_sees_her_own_and_the_admin_sees_all_in_the_admin(alice_client, admin_client_, alice_bot, bob,
                                                                make_bot):
    make_bot(bob, name="Bob secret bot")
    assert alice_client.get(f"/bots/{alice_bot.pk}/").status_code == 200
    html = admin_client_.get("/admin/bots/bot/").content.decode()
    assert "Alice BTC" in html and "Bob secret bot" in html
    # The portal itself is per user, admins included: the admin has no bots of their own there.
    assert admin_client_.get("/dashboard.json").json() == {"bots": []}


def test_every_portal_url_naming_alices_rows_gives_bob_404_for_get_and_post(bob_client, alice_bot, alice_account):
    """Walks the URLconf, so a URL added later with an id in it is covered without editing this test."""
    from django.urls import URLPattern, reverse

    from bots import urls

    ids = {"bot_id": alice_bot.pk, "account_id": alice_account.pk}
    checked = []
    for pattern in urls.urlpatterns:
        if not isinstance(pattern, URLPattern) or not (set(pattern.pattern.converters) & set(ids)):
            continue
        kwargs = {name: ids.get(name, "start") for name in pattern.pattern.converters}
        url = reverse(pattern.name, kwargs=kwargs)
        for method in (bob_client.get, bob_client.post):
            assert method(url).status_code in (404, 405), (method.__name__, url)
        checked.append(pattern.name)
    assert set(checked) >= {"bot-detail", "bot-snapshot", "bot-edit", "bot-action", "exchange-account-delete"}
    alice_bot.refresh_from_db()
    assert alice_bot.status == "stopped" and alice_account.__class__.objects.filter(pk=alice_account.pk).exists()
