"""Portal forms: the bot form built from the strategies' parameter schemas, and exchange keys.

Every choice a form offers is scoped to the user (their accounts only); errors land on the field
they belong to, and a rejected form re-renders with everything the user typed.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.core.validators import MaxLengthValidator

from marketdata.fields import DECIMAL_PLACES, MAX_DIGITS
from marketdata.models import Exchange, Market

from .engine.strategies import STRATEGIES
from .models import Bot, BotMode, ExchangeAccount, NotificationKind, OrderSide, OrderStatus, UserLimits
from .services.notifications import WebhookRefused, check_webhook_url
from .validation import check_bot

LIVE_CONFIRMATION = "I understand this bot places real orders with real money on my exchange account."


def _positive(value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise forms.ValidationError("Must be greater than 0.", code="min_value")


def _amount(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    # Not min_value=1E-12: its message would read "greater than or equal to 1E-12".
    return forms.DecimalField(label=label, required=required, validators=[_positive],
                              max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, help_text=help_text)


def plain_text(text: str) -> str:
    """A docstring or help line as the reader sees it: no reST ``literal`` or :role:`x` markup, one line."""
    text = re.sub(r":\w+:`([^`]*)`", r"\1", text)
    return " ".join(text.replace("``", "").replace("`", "").split())


# Strategy parameters that say what a bot field already says: the form shows the bot field once
# and copies it into the parameter (DCA's "amount" per buy is the bot's order size).
MIRRORED_PARAMS = {("dca", "amount"): "order_size"}


def param_field_name(strategy: str, param: str) -> str:
    """The form field holding one strategy parameter: ``param-<strategy>-<name>``."""
    return f"param-{strategy}-{param}"


def _param_field(p: Any) -> forms.Field:
    """A form field for one ``Param`` of a strategy's schema (bounds are the strategy's to check)."""
    common = {"label": p.name.replace("_", " ").capitalize(), "help_text": plain_text(p.help), "required": False,
              "initial": p.default}
    if p.kind == "int":
        return forms.IntegerField(**common)
    if p.kind == "decimal":
        return forms.DecimalField(max_digits=MAX_DIGITS, decimal_places=DECIMAL_PLACES, **common)
    if p.kind == "choice":
        return forms.ChoiceField(choices=[(c, c) for c in p.choices], **common)
    return forms.BooleanField(**{**common, "initial": bool(p.default)})


class StrategyParamsMixin:
    """One set of inputs per strategy, built from its parameter schema (the bot form and the backtest
    forms share it); the page shows the chosen strategy's set (``bot_form.js``), all of them without
    JavaScript, and only the chosen strategy's values are read."""

    fields: dict[str, forms.Field]
    data: Any
    initial: dict[str, Any]
    is_bound: bool

    def add_param_fields(self) -> None:
        self.param_groups: list[tuple[str, str, list[str]]] = []
        for name, cls in STRATEGIES.items():
            names = []
            for p in cls.params:
                if (name, p.name) in MIRRORED_PARAMS:
                    continue
                field_name = param_field_name(name, p.name)
                self.fields[field_name] = _param_field(p)
                names.append(field_name)
            self.param_groups.append((name, cls.title, names))

    def raw_params(self, data: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """The chosen strategy's parameters as typed (empty ones left to the strategy's defaults)."""
        strategy = data.get("strategy")
        raw: dict[str, Any] = {}
        for p in STRATEGIES[strategy].params if strategy else ():
            if p.name in skip:
                continue
            mirrored = MIRRORED_PARAMS.get((strategy, p.name))
            value = data.get(mirrored) if mirrored else data.get(param_field_name(strategy, p.name))
            if value is not None and value != "":
                raw[p.name] = value
        return raw

    def param_groups_bound(self) -> list[dict[str, Any]]:
        """For the template: each strategy's title, its bound fields, and whether it is chosen."""
        chosen = self.data.get("strategy") if self.is_bound else self.initial.get("strategy")
        chosen = chosen or next(iter(STRATEGIES))
        return [{"name": n, "title": t, "fields": [self[f] for f in names], "chosen": n == chosen,
                 "doc": self._doc(n)} for n, t, names in self.param_groups]

    def _doc(self, strategy: str) -> str:
        """The strategy's docstring as text, a mirrored parameter named by its bot field's label."""
        doc = STRATEGIES[strategy].__doc__ or ""
        for (name, param), field in MIRRORED_PARAMS.items():
            if name == strategy:
                doc = doc.replace(f"``{param}``", f"the {self.fields[field].label.lower()}")
        return plain_text(doc)


class BotForm(StrategyParamsMixin, forms.Form):
    """Create or edit a bot: market, strategy and its parameters, risk settings, paper or live."""

    name = forms.CharField(max_length=100)
    market = forms.ModelChoiceField(queryset=Market.objects.none(), help_text="Exchange and symbol")
    strategy = forms.ChoiceField(choices=[(name, cls.title) for name, cls in STRATEGIES.items()])
    capital = _amount("Capital", help_text="Quote currency allocated to the bot")
    order_size = _amount("Order size", help_text="Quote amount per entry order (for DCA: per scheduled buy)")
    max_position = _amount("Max position", required=False, help_text="Largest position in base units")
    stop_loss_pct = _amount("Stop loss %", required=False)
    take_profit_pct = _amount("Take profit %", required=False)
    trailing_stop_pct = _amount("Trailing stop %", required=False)
    max_daily_loss = _amount("Max daily loss", required=False, help_text="Quote amount; breaching it pauses the bot")
    max_open_orders = forms.IntegerField(min_value=1, max_value=1000, initial=1)
    cooldown_seconds = forms.IntegerField(min_value=0, max_value=86400, initial=0)
    mode = forms.ChoiceField(choices=BotMode.choices, initial=BotMode.PAPER, widget=forms.RadioSelect)
    account = forms.ModelChoiceField(queryset=ExchangeAccount.objects.none(), required=False,
                                     help_text="Required for live trading")
    live_confirmed = forms.BooleanField(required=False, label=LIVE_CONFIRMATION)

    def __init__(self, *args: Any, user: Any, instance: Bot | None = None, **kwargs: Any) -> None:
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(instance)
        super().__init__(*args, **kwargs)
        self.instance = instance
        self.fields["market"].queryset = Market.objects.active().select_related("exchange")
        self.fields["market"].label_from_instance = lambda m: f"{m.symbol} @ {m.exchange.name}"
        self.fields["account"].queryset = ExchangeAccount.objects.for_user(user).select_related("exchange")
        self.add_param_fields()

    @staticmethod
    def initial_from(bot: Bot) -> dict[str, Any]:
        """The form's initial values for an existing bot, parameters included."""
        initial = {f: getattr(bot, f) for f in (
            "name", "strategy", "capital", "order_size", "max_position", "stop_loss_pct", "take_profit_pct",
            "trailing_stop_pct", "max_daily_loss", "max_open_orders", "cooldown_seconds", "mode", "live_confirmed")}
        initial["market"] = bot.market_id
        initial["account"] = bot.account_id
        for key, value in (bot.params or {}).items():
            initial[param_field_name(bot.strategy, key)] = value
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        strategy = data.get("strategy")
        raw = self.raw_params(data)
        market = data.get("market")
        check = check_bot(strategy=strategy, params=raw, capital=data.get("capital"),
                          order_size=data.get("order_size"), mode=data.get("mode"),
                          live_confirmed=bool(data.get("live_confirmed")), market=market,
                          account=data.get("account"))
        for name, messages in check.errors.items():
            self.add_error(name if name in self.fields else None, messages)
        for name, messages in check.param_errors.items():
            field = MIRRORED_PARAMS.get((strategy, name)) or param_field_name(strategy or "", name)
            self.add_error(field if field in self.fields else None, messages)
        if check.params is not None:
            data["params"] = check.params
        if data.get("mode") != BotMode.LIVE:
            data["live_confirmed"] = False
        return data

    def bot_data(self) -> dict[str, Any]:
        """The cleaned values the bot services take (strategy parameters collected in ``params``)."""
        return {k: v for k, v in self.cleaned_data.items() if not k.startswith("param-")}


class ExchangeAccountForm(forms.Form):
    """Add API keys; they are write-only (password inputs, never rendered back)."""

    exchange = forms.ModelChoiceField(queryset=Exchange.objects.enabled())
    label = forms.CharField(max_length=64)
    api_key = forms.CharField(widget=forms.PasswordInput(render_value=False), max_length=512, strip=True)
    api_secret = forms.CharField(widget=forms.PasswordInput(render_value=False), max_length=512, strip=True)
    passphrase = forms.CharField(widget=forms.PasswordInput(render_value=False), max_length=512, required=False)
    accept_withdraw_risk = forms.BooleanField(
        required=False, label="I accept the risk of a key that can withdraw funds",
        help_text="Keys are checked with the exchange; one that can withdraw is refused unless you tick this.")

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_label(self) -> str:
        label = self.cleaned_data["label"]
        if ExchangeAccount.objects.for_user(self.user).filter(label=label).exists():
            raise forms.ValidationError("You already have an account with this label.")
        return label


class SignUpForm(UserCreationForm):
    """Sign-up (when ``SIGNUP_ENABLED``): a username, an optional e-mail and a password twice.

    Passwords are capped at ``MAX_PASSWORD_LENGTH``: hashing a megabyte "password" is a cheap way to
    keep a worker busy."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.MAX_PASSWORD_LENGTH
        for name in ("password1", "password2"):
            field = self.fields[name]
            field.max_length = limit
            field.validators.append(MaxLengthValidator(limit))
            field.widget.attrs["maxlength"] = str(limit)


# -- query parameters --------------------------------------------------------------------------------
# Every page's query string goes through a form: ASCII digits only (``str.isdigit()`` accepts "²³",
# which ``int()`` then refuses), at most 18 of them (a bigint id), short choices. A bad value is
# dropped, never an error: a filter link someone mangled still shows the page.
MAX_ID_DIGITS = 18


class IdField(forms.IntegerField):
    """A database id in a query string: 1 to 18 ASCII digits."""

    default_validators: list = []

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, min_value=1, **kwargs)

    def to_python(self, value: Any) -> int | None:
        text = (value or "").strip()
        if not text:
            return None
        if len(text) > MAX_ID_DIGITS or not (text.isascii() and text.isdigit()):
            raise forms.ValidationError("Not an id.", code="invalid")
        return int(text)


class QueryForm(forms.Form):
    """A page's query parameters; ``values()`` keeps the valid ones and drops the rest."""

    def __init__(self, params: Any) -> None:
        super().__init__({k: params.get(k, "") for k in self.base_fields})

    def values(self) -> dict[str, Any]:
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class OrdersFilterForm(QueryForm):
    """The orders page's filters and its keyset cursor."""

    bot = IdField()
    status = forms.ChoiceField(choices=[("", "Any"), *OrderStatus.choices], required=False)
    side = forms.ChoiceField(choices=[("", "Any"), *OrderSide.choices], required=False)
    before = IdField()


class NotificationSettingsForm(forms.Form):
    """Which events to hear about, by e-mail and/or webhook (a private webhook target is refused in production)."""

    kinds = forms.MultipleChoiceField(choices=NotificationKind.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple, label="Tell me about")
    email = forms.EmailField(required=False, help_text="Leave empty for no e-mail.")
    webhook_url = forms.URLField(required=False, max_length=500, assume_scheme="https", label="Webhook URL",
                                 help_text="We POST a JSON object (kind, title, message, bot_id, time). "
                                           "Leave empty for none.")

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data.get("webhook_url") or ""
        if url:
            try:
                check_webhook_url(url)
            except WebhookRefused as exc:
                raise forms.ValidationError(str(exc)) from exc
        return url

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kinds") and not (data.get("email") or data.get("webhook_url")):
            self.add_error("email", "Give an e-mail address or a webhook URL to send these to.")
        return data


class UserLimitsForm(forms.ModelForm):
    """Account-wide limits; an empty field means no limit."""

    class Meta:
        model = UserLimits
        fields = ("max_exposure", "max_daily_loss", "max_open_orders")
        labels = {"max_exposure": "Maximum total exposure", "max_daily_loss": "Maximum loss per day",
                  "max_open_orders": "Maximum open orders"}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("max_exposure", "max_daily_loss"):
            value = data.get(name)
            if value is not None and value <= 0:
                self.add_error(name, "Must be greater than 0, or empty for no limit.")
        return data

    def limits(self) -> dict[str, Any]:
        """The cleaned limits as the service takes them."""
        return {name: self.cleaned_data.get(name) for name in self.Meta.fields}
