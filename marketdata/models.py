"""Exchanges and their markets: the catalogue bots trade on."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from .exchanges.base import Capabilities
from .exchanges.registry import get_adapter
from .fields import AmountField


class Venue(models.TextChoices):
    BINANCE = "binance", "Binance"
    COINBASE = "coinbase", "Coinbase"
    KRAKEN = "kraken", "Kraken"
    SIMULATOR = "simulator", "Simulator"


class ExchangeQuerySet(models.QuerySet):
    def enabled(self) -> ExchangeQuerySet:
        return self.filter(enabled=True)


class Exchange(models.Model):
    """A venue. ``protocol`` picks the adapter; the endpoint fields override its default URLs."""

    code = models.CharField(max_length=32, unique=True, choices=Venue.choices)
    name = models.CharField(max_length=64)
    # The wire protocol spoken at the endpoints: the simulator speaks Binance's by default.
    protocol = models.CharField(
        max_length=16, choices=[c for c in Venue.choices if c[0] != Venue.SIMULATOR], default=Venue.BINANCE
    )
    enabled = models.BooleanField(default=True)
    testnet = models.BooleanField(default=False)
    ws_url = models.CharField("WebSocket URL override", max_length=255, blank=True)
    rest_url = models.CharField("REST base URL override", max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ExchangeQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(protocol=Venue.SIMULATOR), name="exchange_protocol_is_a_venue"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """The testnet flag moves every endpoint to the venue's testnet: refused where it has none."""
        if self.testnet and self.protocol and get_adapter(self.protocol).capabilities.testnet is None:
            raise ValidationError({"testnet": f"{self.get_protocol_display()} has no testnet or sandbox."})

    @property
    def capabilities(self) -> Capabilities:
        """What the venue's adapter can do (live trading, reconcile, testnet, ...): ask this, not the code."""
        return get_adapter(self.protocol).capabilities


class MarketQuerySet(models.QuerySet):
    def active(self) -> MarketQuerySet:
        return self.filter(active=True, exchange__enabled=True)


class Market(models.Model):
    """A tradable symbol on one exchange, with its trading rules."""

    exchange = models.ForeignKey(Exchange, on_delete=models.CASCADE, related_name="markets")
    symbol = models.CharField(max_length=32, help_text="Unified symbol, e.g. BTC/USDT")
    native_symbol = models.CharField(max_length=32, help_text="The exchange's own symbol, e.g. BTCUSDT")
    base = models.CharField(max_length=16)
    quote = models.CharField(max_length=16)
    price_tick = AmountField()
    quantity_step = AmountField()
    min_notional = AmountField(default=0)
    active = models.BooleanField(default=True)

    objects = MarketQuerySet.as_manager()

    class Meta:
        ordering = ["exchange__code", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="market_unique_symbol_per_exchange"),
            models.CheckConstraint(condition=Q(price_tick__gt=0), name="market_price_tick_positive"),
            models.CheckConstraint(condition=Q(quantity_step__gt=0), name="market_quantity_step_positive"),
            models.CheckConstraint(condition=Q(min_notional__gte=0), name="market_min_notional_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} @ {self.exchange.code}"
