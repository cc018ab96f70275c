"""Every URL of the portal walked with hostile parameters (huge numbers, non-ASCII digits, SQL and HTML
fragments) as an anonymous visitor, as alice (the owner), as bob (another user) and as an admin:
never a 500, never one of alice's rows on anyone else's page, never a fragment echoed unescaped."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

HOSTILE = [
    "9" * 5000, "99999999999999999999", "²³", "١٢٣", "１２", "-1", "0", "1e3", " 7", "0x10",
    "' OR 1=1 --", "1; DROP TABLE bots_bot", '"><script>alert(1)</script>', "%00", "\x00", "\u202e", "é" * 300,
]
MARKER = "<script>alert(1)</script>"
# Every query parameter a page reads, plus those Django's admin and auth views read.
PARAMS = ["bot", "status", "side", "before", "next", "q", "p", "o", "e", "page", "all", "_changelist_filters"]
ALICE_ONLY = ("Alice BTC", "bp-alice-", "alice-secret-signal", "ALICEKEY")


def all_paths() -> list[str]:
    """Every URL pattern with its ids filled in (1, so a foreign or missing row is the usual case)."""
    out: list[str] = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                if route.startswith("admin/"):
                    continue  # walked separately below: the admin has hundreds of routes
                walk(p.url_patterns, prefix + route)
            elif isinstance(p, URLPattern) and "^" not in route:
                path = prefix + route
                for name in ("<id:bot_id>", "<id:account_id>"):
                    path = path.replace(name, "{id}")
                out.append("/" + path.replace("<slug:action>", "start"))

    walk(get_resolver().url_patterns, "")
    return out


ADMIN_PATHS = ["/admin/", "/admin/bots/bot/", "/admin/bots/order/", "/admin/bots/discrepancy/",
               "/admin/bots/bot/{id}/change/", "/admin/axes/accessattempt/"]


def check(client: Client, url: str, who: str, *, others: tuple[str, ...] = ()) -> None:
    response = client.get(url)
    assert response.status_code < 500, (who, url[:120], response.status_code)
    if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
        html = response.content.decode()
        assert MARKER not in html, (who, url[:120])
        for secret in others:
            assert secret not in html, (who, url[:120], secret)


@pytest.fixture
def clients(alice_client, bob_client, admin_client_):
    anonymous = Client(raise_request_exception=False)
    for c in (alice_client, bob_client, admin_client_):
        c.raise_request_exception = False
    return {"anonymous": anonymous, "alice": alice_client, "bob": bob_client, "admin": admin_client_}


def test_every_url_with_every_hostile_parameter_answers_without_a_500_or_a_leak(clients, alice_bot, alice_account):
    paths = all_paths()
    assert {"/", "/orders/", "/bots/{id}/", "/market/", "/accounts/login/"} <= set(paths)
    for who, client in clients.items():
        others = ALICE_ONLY if who in ("anonymous", "bob") else ()
        targets = paths + (ADMIN_PATHS if who == "admin" else [])
        for template in targets:
            # A path with an id is asked with Alice's, another's and an absurd one; a path without is asked once.
            for bot_id in (alice_bot.pk, 1, 10**17) if "{id}" in template else (0,):
                base = template.format(id=bot_id)
                check(client, base, who, others=others)
                for value in HOSTILE:
                    query = "&".join(f"{p}={value}" for p in PARAMS)
                    check(client, f"{base}?{query}"[:2000], who, others=others)


def test_hostile_ids_in_paths_are_not_found():
    client = Client(raise_request_exception=False)
    for bad in ("9" * 40, "²", "-1", "1.5", "%C2%B2"):
        assert client.get(f"/bots/{bad}/").status_code == 404, bad


def test_bad_filter_values_are_ignored_and_good_ones_kept(alice_client, alice_bot):
    html = alice_client.get(f"/orders/?bot=²³&before={'9' * 1000}&status=open&side=' OR 1=1").content.decode()
    assert "bp-alice-open-2" in html and "bp-alice-filled-1" not in html  # status kept, the rest dropped
    assert f"/orders/?before={'9' * 19}" not in html
    html = alice_client.get(f"/orders/?bot={alice_bot.pk}&before=99999999999999999").content.decode()
    assert "bp-alice-filled-1" in html


def test_bob_filtering_by_alices_bot_sees_his_own_empty_list(bob_client, alice_bot):
    html = bob_client.get(f"/orders/?bot={alice_bot.pk}").content.decode()
    assert "No orders match." in html and "bp-alice" not in html


def test_a_huge_query_string_gets_a_clear_414(alice_client):
    response = alice_client.get("/orders/?bot=" + "1" * 20_000)
    assert response.status_code == 414
    assert "too long" in response.content.decode()


def test_a_runaway_password_is_refused_at_sign_up(client, db):
    long = "Aa1!" * 100
    response = client.post("/accounts/signup/", {"username": "mallory", "password1": long, "password2": long})
    assert response.status_code == 200
    assert "at most 128 characters" in response.content.decode()


FORMS = {
    "/bots/new/": ["name", "market", "strategy", "capital", "order_size", "max_position", "stop_loss_pct",
                   "max_open_orders", "cooldown_seconds", "mode", "account", "param-crossover-fast_period"],
    "/exchange-accounts/": ["exchange", "label", "api_key", "api_secret"],
    "/notifications/": ["kinds", "email", "webhook_url"],
    "/limits/": ["max_exposure", "max_daily_loss", "max_open_orders"],
    "/accounts/signup/": ["username", "email", "password1", "password2"],
    "/accounts/login/": ["username", "password"],
}


def test_every_form_takes_hostile_values_without_a_500(clients, alice_bot):
    for who in ("alice", "bob"):
        client = clients[who]
        for url, fields in FORMS.items():
            for value in HOSTILE + ["1e400", "NaN", "-Infinity", "9" * 60]:
                response = client.post(url, {f: value for f in fields})
                assert response.status_code < 500, (who, url, value[:40], response.status_code)
                assert MARKER not in response.content.decode(), (who, url)
    for path in (f"/bots/{alice_bot.pk}/edit/", f"/bots/{alice_bot.pk}/start/"):
        assert clients["bob"].post(path, {"name": "x"}).status_code == 404
