"""Exchanges and their markets: the catalogue bots trade on."""

from __future__ import annotations

from django.conf import settings
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


class CandleQuerySet(models.QuerySet):
    def series(self, market: Market, timeframe: str) -> CandleQuerySet:
        return self.filter(market=market, timeframe=timeframe)


class Candle(models.Model):
    """One stored OHLCV candle of a market (history for backtests): unique per market, timeframe
    and open time. Prices and volume are exact (``AmountField``)."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="candles")
    timeframe = models.CharField(max_length=8)
    open_time = models.DateTimeField()
    open = AmountField()
    high = AmountField()
    low = AmountField()
    close = AmountField()
    volume = AmountField(default=0)

    objects = CandleQuerySet.as_manager()

    class Meta:
        ordering = ["market", "timeframe", "open_time"]
        constraints = [
            models.UniqueConstraint(fields=["market", "timeframe", "open_time"], name="candle_unique_open_time"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"


class HistoryDownload(models.Model):
    """A requested download of candles (run by a Celery task, with its progress for the pages)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="history_downloads")
    timeframe = models.CharField(max_length=8, default="1m")
    since = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)
    stored = models.PositiveIntegerField(default=0)
    gaps = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written with each progress step while it runs: a running download whose heartbeat stopped was
    # abandoned (its worker or the platform stopped half-way) and is shown failed (``reap_stale``).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.market} {self.timeframe} from {self.since:%Y-%m-%d}"
