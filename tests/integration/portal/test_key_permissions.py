"""Keys that cannot withdraw: checked with the venue (the simulator's Binance apiRestrictions, Coinbase
key_permissions, Kraken's WithdrawInfo probe) when saved and daily; a withdrawing key is refused unless
its owner accepts the risk, and one that gained withdrawal rights pauses the account's live bots."""

from __future__ import annotations

import base64
import secrets

import pytest

from bots.models import Bot, BotEvent, ExchangeAccount
from bots.services.accounts import WITHDRAW_PAUSE_REASON, recheck_key_permissions
from marketdata.models import Exchange
from marketdata.simulator import SimulatorThread
from marketdata.simulator.coinbase_auth import generate_key

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]
VENUES = [("simulator", "binance"), ("coinbase", "coinbase"), ("kraken", "kraken")]


@pytest.fixture(scope="module")
def sim():
    with SimulatorThread(seed=19, update_interval=3600) as s:
        yield s


def keys(venue: str) -> tuple[str, str]:
    if venue == "coinbase":
        return generate_key()
    if venue == "kraken":
        return f"kr-{secrets.token_hex(4)}", base64.b64encode(secrets.token_bytes(32)).decode()
    return f"bn-{secrets.token_hex(4)}", secrets.token_hex(16)


@pytest.fixture(params=VENUES, ids=[v[1] for v in VENUES])
def venue(request, sim, catalogue):
    code, name = request.param
    Exchange.objects.filter(code=code).update(rest_url=sim.urls[name].rest)
    return Exchange.objects.get(code=code), getattr(sim, name)


def post_key(client, exchange, key, secret, label="main", accept=False):
    data = {"exchange": exchange.pk, "label": label, "api_key": key, "api_secret": secret}
    if accept:
        data["accept_withdraw_risk"] = "on"
    return client.post("/exchange-accounts/", data)


def test_a_trade_only_key_is_saved_and_its_permissions_shown(alice_client, bob_client, venue):
    exchange, venue_sim = venue
    key, secret = keys(exchange.protocol)
    venue_sim.add_account(key, secret, {"USD": "1"}, permissions=("read", "trade"))
    assert post_key(alice_client, exchange, key, secret, label="alices-key").status_code == 302
    account = ExchangeAccount.objects.get(label="alices-key")
    assert account.key_permissions["trade"] and account.can_withdraw is False
    assert account.permissions_checked_at is not None
    page = alice_client.get("/exchange-accounts/").content.decode()
    assert "cannot withdraw" in page
    assert "alices-key" not in bob_client.get("/exchange-accounts/").content.decode()


def test_a_key_that_can_withdraw_is_refused_unless_the_risk_is_accepted(alice_client, venue):
    exchange, venue_sim = venue
    key, secret = keys(exchange.protocol)
    venue_sim.add_account(key, secret, {"USD": "1"}, permissions=("read", "trade", "withdraw"))
    refused = post_key(alice_client, exchange, key, secret)
    assert refused.status_code == 200 and "can withdraw funds" in refused.content.decode()
    assert not ExchangeAccount.objects.exists()
    assert post_key(alice_client, exchange, key, secret, accept=True).status_code == 302
    account = ExchangeAccount.objects.get()
    assert account.can_withdraw and account.withdraw_risk_accepted
    assert "risk accepted" in alice_client.get("/exchange-accounts/").content.decode()


def test_a_key_the_venue_does_not_know_is_refused(alice_client, venue):
    exchange, _ = venue
    response = post_key(alice_client, exchange, *keys(exchange.protocol))
    assert response.status_code == 200 and "did not confirm this key" in response.content.decode()
    assert not ExchangeAccount.objects.exists()


def test_the_daily_check_pauses_live_bots_whose_key_gained_withdrawal_rights(alice_client, alice, make_bot, venue):
    exchange, venue_sim = venue
    key, secret = keys(exchange.protocol)
    venue_sim.add_account(key, secret, {"USD": "1"}, permissions=("read", "trade"))
    post_key(alice_client, exchange, key, secret)
    account = ExchangeAccount.objects.get()
    market = exchange.markets.first()
    bot = make_bot(alice, exchange=exchange.code, symbol=market.symbol, mode="live", account=account,
                   live_confirmed=True, status="running")
    assert recheck_key_permissions()["paused"] == 0

    venue_sim.set_permissions(key, ("read", "trade", "withdraw"))
    report = recheck_key_permissions()

    bot.refresh_from_db()
    assert report["paused"] == 1 and bot.status == "paused" and bot.status_reason == WITHDRAW_PAUSE_REASON
    assert BotEvent.objects.filter(bot=bot, kind="status", data__actor="key check").exists()
    assert ExchangeAccount.objects.get().can_withdraw
    assert Bot.objects.get(pk=bot.pk).status == "paused"
