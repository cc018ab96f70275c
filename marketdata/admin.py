from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import history
from .models import Candle, Exchange, HistoryDownload, Market


class MarketInline(admin.TabularInline):
    model = Market
    extra = 0
    fields = ("symbol", "native_symbol", "base", "quote", "price_tick", "quantity_step", "min_notional", "active")


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "protocol", "enabled", "testnet", "testnet_available", "ws_url", "rest_url")
    list_filter = ("enabled", "testnet", "protocol")
    search_fields = ("code", "name")
    readonly_fields = ("what_it_can_do",)
    inlines = [MarketInline]

    @admin.display(description="testnet available")
    def testnet_available(self, obj: Exchange) -> str:
        testnet = obj.capabilities.testnet
        return f"yes ({testnet.rest})" if testnet else "no: this venue has no testnet or sandbox"

    @admin.display(description="capabilities")
    def what_it_can_do(self, obj: Exchange) -> str:
        c = obj.capabilities
        testnet = f"testnet {c.testnet.ws} and {c.testnet.rest}" if c.testnet else "no testnet (the flag is refused)"
        return (f"live trading: {'yes' if c.live_trading else 'no'}; order types: {', '.join(sorted(c.order_types))};"
                f" reconcile: {'yes' if c.reconcile else 'no'}; klines: {'yes' if c.klines else 'no'}; {testnet}")


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("symbol", "exchange", "native_symbol", "price_tick", "quantity_step", "min_notional", "active")
    list_filter = ("exchange", "active", "quote")
    search_fields = ("symbol", "native_symbol", "base", "quote")
    list_select_related = ("exchange",)


@admin.register(Candle)
class CandleAdmin(admin.ModelAdmin):
    """Stored history (written by ``marketdata.history``): browse and delete, never edit."""

    list_display = ("market", "timeframe", "open_time", "open", "high", "low", "close", "volume")
    list_filter = ("timeframe", "market__exchange")
    list_select_related = ("market__exchange",)
    date_hierarchy = "open_time"
    show_full_result_count = False  # a year of minutes per market: no COUNT(*) per page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HistoryDownload)
class HistoryDownloadAdmin(admin.ModelAdmin):
    """Downloads with their progress and gaps; adding one here starts it (a Celery task)."""

    list_display = ("market", "timeframe", "since", "until", "status", "progress", "stored", "gaps", "created_at")
    list_filter = ("status", "timeframe")
    list_select_related = ("market__exchange",)
    fields = ("market", "timeframe", "since", "until", "status", "progress", "stored", "gaps", "error")
    readonly_fields = ("status", "progress", "stored", "gaps", "error")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        """The downloads, under what history is stored per market and timeframe (range, missing)."""
        history.reap_stale()  # a download whose worker stopped is listed failed, with why
        extra = {"stored_history": history.history_overview(), **(extra_context or {})}
        return super().changelist_view(request, extra)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return
        obj.pk = history.request_download(request.user, obj.market, obj.timeframe, obj.since, obj.until).pk
