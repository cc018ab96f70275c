"""Bot validation lives in one place (``bots.validation.check_bot``): the model's ``clean`` (and so the
admin's form) and the portal's form reject the same settings with the same message on the same field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from bots.forms import BotForm
from bots.models import Bot, ExchangeAccount
from marketdata.models import Exchange, Market

pytestmark = pytest.mark.django_db

GOOD = {"name": "b", "strategy": "crossover", "capital": "1000", "order_size": "100", "mode": "paper",
        "max_open_orders": "1", "cooldown_seconds": "0", "param-crossover-fast_period": "5",
        "param-crossover-slow_period": "20"}


@pytest.fixture
def sim(catalogue):
    return Market.objects.get(exchange__code="simulator", symbol="BTC/USDT")


@pytest.fixture
def accounts(alice, catalogue) -> dict[str, ExchangeAccount]:
    """Alice's account on the bot's exchange ("mine") and one on another exchange ("kraken")."""
    return {name: ExchangeAccount.objects.create(owner=alice, exchange=Exchange.objects.get(code=code), label=name,
                                                 api_key="K", api_secret="S")
            for name, code in (("mine", "simulator"), ("kraken", "kraken"))}


# (what is changed, the field the error is on, a part of the message)
CASES = {
    "order size above the capital": ({"order_size": "2000"}, "order_size", "more than the capital"),
    "live without an account": ({"mode": "live", "live_confirmed": "on"}, "account", "needs an exchange account"),
    "live without the confirmation": ({"mode": "live", "account": "mine"}, "live_confirmed", "Tick this box"),
    "an account of another exchange": ({"account": "kraken"}, "account", "This account is for Kraken"),
    "bad strategy parameters": ({"param-crossover-fast_period": "30"}, "params", "greater than the fast period"),
}


def _form_values(case: dict[str, str], market: Market, accounts: dict[str, ExchangeAccount]) -> dict:
    data = {**GOOD, "market": market.pk, **case}
    if "account" in data:
        data["account"] = accounts[data["account"]].pk
    return data


def _model(data: dict, owner: object) -> Bot:
    market = Market.objects.get(pk=data["market"])
    return Bot(owner=owner, name="b", exchange=market.exchange, market=market, strategy="crossover",
               params={"fast_period": int(data["param-crossover-fast_period"]),
                       "slow_period": int(data["param-crossover-slow_period"])},
               capital=Decimal(data["capital"]), order_size=Decimal(data["order_size"]), mode=data["mode"],
               live_confirmed=bool(data.get("live_confirmed")), account_id=data.get("account"))


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_portal_form_and_the_model_reject_a_bot_alike(case, alice, sim, accounts):
    change, field, message = CASES[case]
    data = _form_values(change, sim, accounts)
    form = BotForm(data, user=alice)
    assert not form.is_valid()
    form_field = "param-crossover-slow_period" if field == "params" else field
    assert any(message in m for m in form.errors[form_field]), form.errors
    with pytest.raises(ValidationError) as caught:
        _model(data, alice).full_clean()
    assert any(message in m for m in caught.value.message_dict[field]), caught.value.message_dict


def test_the_same_settings_pass_everywhere_and_params_are_stored_cleaned(alice, sim, accounts):
    data = _form_values({"mode": "live", "account": "mine", "live_confirmed": "on"}, sim, accounts)
    form = BotForm(data, user=alice)
    assert form.is_valid(), form.errors
    bot = _model(data, alice)
    bot.full_clean()
    assert bot.params == form.cleaned_data["params"]
    assert "timeframe" in bot.params  # defaults filled in, the same way


def test_the_admin_form_applies_the_shared_rules(admin_user, alice, sim):
    request = RequestFactory().post("/admin/bots/bot/add/")
    request.user = admin_user
    form_class = admin.site._registry[Bot].get_form(request)
    data = {"owner": alice.pk, "name": "b", "exchange": sim.exchange_id, "market": sim.pk, "strategy": "crossover",
            "params": '{"fast_period": 5, "slow_period": 20}', "mode": "paper", "capital": "10",
            "order_size": "100", "max_open_orders": "1", "cooldown_seconds": "0"}
    form = form_class(data)
    assert not form.is_valid()
    assert form.errors["order_size"] == ["Must not be more than the capital."]
