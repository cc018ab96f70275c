"""Exchange accounts, bots, orders and their events, fills, positions and the bots' audit log."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from marketdata.models import Exchange, Market

from ..engine import types as core
from ..fields import AmountField, EncryptedTextField
from ..querysets import OwnedQuerySet
from ..validation import check_bot


def _choices(name: str, values: Iterable[str]) -> type[models.TextChoices]:
    """Choices whose values are the engine's vocabulary (``partially_filled`` -> ``PARTIALLY_FILLED``,
    labelled "Partially filled"): the model never restates a status, side, type or mode."""
    return models.TextChoices(name, [(v.upper(), (v, v.replace("_", " ").capitalize())) for v in values])


class ExchangeAccountQuerySet(OwnedQuerySet):
    pass


class ExchangeAccount(models.Model):
    """API credentials for one exchange; secrets are encrypted at rest and never shown back."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_accounts")
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="accounts")
    label = models.CharField(max_length=64)
    api_key = EncryptedTextField()
    api_secret = EncryptedTextField()
    passphrase = EncryptedTextField(blank=True, default="")
    # What the key may do, as the venue last said ({"read", "trade", "withdraw": bool, "detail": str});
    # empty until checked. A key that can withdraw is kept only with the owner's explicit acceptance.
    key_permissions = models.JSONField(default=dict, blank=True)
    permissions_checked_at = models.DateTimeField(null=True, blank=True)
    withdraw_risk_accepted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExchangeAccountQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["owner", "label"], name="account_label_unique_per_owner")]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange.code})"

    @property
    def can_withdraw(self) -> bool | None:
        """Whether the key can withdraw (None: not checked yet)."""
        return self.key_permissions.get("withdraw") if self.key_permissions else None

    @property
    def masked_key(self) -> str:
        """The API key as a user may see it again: only its last four characters."""
        return f"…{self.api_key[-4:]}" if self.api_key else ""


BotMode = _choices("BotMode", core.MODES)
BotStatus = _choices("BotStatus", core.BOT_STATUSES)


# The heartbeat watchdog's reason when the engine stopped beating; such bots resume with the engine.
ENGINE_DOWN_REASON = "No heartbeat from the engine"


class BotQuerySet(OwnedQuerySet):
    def running(self) -> BotQuerySet:
        return self.filter(status__in=[BotStatus.STARTING, BotStatus.RUNNING])

    def active(self) -> BotQuerySet:
        return self.filter(status__in=[BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED])

    def resumable(self) -> BotQuerySet:
        """What an engine hosts at start: active bots, and those the heartbeat watchdog put in
        error while the engine was down (the engine failed, not the bot)."""
        return self.filter(
            Q(status__in=[BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED])
            | Q(status=BotStatus.ERROR, status_reason__startswith=ENGINE_DOWN_REASON)
        )


class Bot(models.Model):
    """One strategy trading one market, with its capital and risk limits."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=100)
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="bots")
    account = models.ForeignKey(
        ExchangeAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="bots",
        help_text="Required for live trading; paper bots need none.",
    )
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="bots")
    strategy = models.CharField(max_length=64)
    params = models.JSONField(default=dict, blank=True)
    mode = models.CharField(max_length=8, choices=BotMode.choices, default=BotMode.PAPER)
    live_confirmed = models.BooleanField(
        default=False, help_text="Explicit opt-in: this bot may place real orders with real money."
    )
    capital = AmountField(help_text="Quote currency allocated to the bot")
    order_size = AmountField(help_text="Quote amount per entry order")
    max_position = AmountField(null=True, blank=True, help_text="Largest position in base units")
    stop_loss_pct = AmountField(null=True, blank=True)
    take_profit_pct = AmountField(null=True, blank=True)
    trailing_stop_pct = AmountField(null=True, blank=True)
    max_daily_loss = AmountField(null=True, blank=True, help_text="Quote amount; breaching it pauses the bot")
    max_open_orders = models.PositiveIntegerField(default=1)
    cooldown_seconds = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=BotStatus.choices, default=BotStatus.STOPPED, db_index=True)
    status_reason = models.CharField(max_length=255, blank=True)
    # Grows by one with every start, stop, pause, resume or close a person asks for (in the same
    # transaction as the status it asks for); the control message carries it. An engine applies a
    # request only if it is newer than the last it applied, and writes a status only over a row whose
    # newest request it has applied: the last command wins, whichever way it arrived first.
    control_seq = models.PositiveBigIntegerField(default=0, editable=False)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BotQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(capital__gt=0), name="bot_capital_positive"),
            models.CheckConstraint(condition=Q(order_size__gt=0), name="bot_order_size_positive"),
            models.CheckConstraint(
                condition=Q(mode=BotMode.PAPER) | Q(account__isnull=False, live_confirmed=True),
                name="bot_live_needs_account_and_confirmation",
            ),
            models.CheckConstraint(
                condition=Q(stop_loss_pct__isnull=True) | Q(stop_loss_pct__gt=0),
                name="bot_stop_loss_positive",
            ),
            models.CheckConstraint(
                condition=Q(take_profit_pct__isnull=True) | Q(take_profit_pct__gt=0),
                name="bot_take_profit_positive",
            ),
            models.CheckConstraint(
                condition=Q(trailing_stop_pct__isnull=True) | Q(trailing_stop_pct__gt=0),
                name="bot_trailing_stop_positive",
            ),
        ]
        indexes = [models.Index(fields=["owner", "status"], name="bot_owner_status")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The one set of bot rules (``bots.validation.check_bot``); parameters are stored cleaned."""
        check = check_bot(strategy=self.strategy, params=self.params, capital=self.capital,
                          order_size=self.order_size, mode=self.mode, live_confirmed=self.live_confirmed,
                          market=self.market if self.market_id else None,
                          account=self.account if self.account_id else None,
                          exchange=self.exchange if self.exchange_id else None)
        if check.params is not None:
            self.params = check.params
        errors = dict(check.errors)
        if check.param_errors:
            errors["params"] = [f"{name}: {msg}" for name, msgs in check.param_errors.items() for msg in msgs]
        if errors:
            raise ValidationError(errors)


OrderSide = _choices("OrderSide", core.SIDES)
OrderType = _choices("OrderType", core.ORDER_TYPES)
OrderStatus = _choices("OrderStatus", core.ORDER_STATUSES)


class OrderQuerySet(OwnedQuerySet):
    owner_path = "bot__owner"

    def open(self) -> OrderQuerySet:
        return self.exclude(status__in=core.FINAL_STATUSES)


class Order(models.Model):
    """An order; written as pending_submit with its client order id before it is ever sent."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="orders")
    client_order_id = models.CharField(max_length=40, unique=True, default=core.new_client_order_id)
    exchange_order_id = models.CharField(max_length=64, blank=True, db_index=True)
    side = models.CharField(max_length=4, choices=OrderSide.choices)
    type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.MARKET)
    quantity = AmountField()
    price = AmountField(null=True, blank=True)
    stop_price = AmountField(null=True, blank=True, help_text="a stop order's trigger (its price is the limit)")
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.PENDING_SUBMIT)
    filled_quantity = AmountField(default=0)
    average_fill_price = AmountField(null=True, blank=True)
    fees = AmountField(default=0)
    fee_asset = models.CharField(max_length=16, blank=True)
    is_paper = models.BooleanField(default=True)
    reason = models.CharField(max_length=32, blank=True, help_text="entry, stop_loss, take_profit, ...")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=Q(price__isnull=True) | Q(price__gt=0), name="order_price_positive"),
            models.CheckConstraint(condition=Q(filled_quantity__gte=0), name="order_filled_not_negative"),
            models.CheckConstraint(condition=Q(fees__gte=0), name="order_fees_not_negative"),
            models.CheckConstraint(
                condition=~Q(type=OrderType.LIMIT) | Q(price__isnull=False), name="order_limit_has_price"
            ),
        ]
        indexes = [
            models.Index(fields=["bot", "status"], name="order_bot_status"),
            models.Index(fields=["status", "created_at"], name="order_status_created"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} {self.bot.market.symbol} [{self.client_order_id}]"

    @property
    def is_final(self) -> bool:
        return self.status in core.FINAL_STATUSES


class OrderEvent(models.Model):
    """Append-only log of an order's changes."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["time", "id"]
        indexes = [models.Index(fields=["order", "time"], name="orderevent_order_time")]


class FillQuerySet(OwnedQuerySet):
    owner_path = "order__bot__owner"


class Fill(models.Model):
    """One execution; a venue's trade id is unique per market (Binance numbers each symbol's trades
    from 1), so a fill counts once per (exchange, market, trade id)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="fills")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="fills")
    trade_id = models.CharField(max_length=64)
    price = AmountField()
    quantity = AmountField()
    fee = AmountField(default=0)
    fee_asset = models.CharField(max_length=16, blank=True)
    is_maker = models.BooleanField(default=False)
    time = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FillQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "market", "trade_id"], name="fill_trade_unique_per_market"),
            models.CheckConstraint(condition=Q(price__gt=0), name="fill_price_positive"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="fill_quantity_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="fill_fee_not_negative"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A fill is on its order's market: taken from the order when not given."""
        if self.market_id is None and self.order_id is not None:
            self.market_id = Order.objects.filter(pk=self.order_id).values_list("bot__market_id", flat=True).get()
        super().save(*args, **kwargs)


class PositionQuerySet(OwnedQuerySet):
    owner_path = "bot__owner"

    def open(self) -> PositionQuerySet:
        return self.filter(closed_at__isnull=True)


class Position(models.Model):
    """A bot's holding in its market (spot: long only), with its exit levels and P&L."""

    bot = models.ForeignKey(Bot, on_delete=models.PROTECT, related_name="positions")
    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="positions")
    quantity = AmountField(default=0)
    average_entry = AmountField(null=True, blank=True)
    realized_pnl = AmountField(default=0)
    fees = AmountField(default=0)
    stop_loss_price = AmountField(null=True, blank=True)
    take_profit_price = AmountField(null=True, blank=True)
    trailing_stop_price = AmountField(null=True, blank=True)
    highest_price = AmountField(null=True, blank=True, help_text="Peak since entry, for the trailing stop")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PositionQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "market"], condition=Q(closed_at__isnull=True), name="position_one_open_per_bot_market"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="position_quantity_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} {self.market.symbol} ({self.bot.name})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class BotEventQuerySet(OwnedQuerySet):
    owner_path = "bot__owner"


class BotEvent(models.Model):
    """The bot's audit log: status changes, signals, risk decisions, errors."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="events")
    time = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=32)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = BotEventQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["bot", "-time"], name="botevent_bot_time")]

    def __str__(self) -> str:
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.kind}: {self.message}"
