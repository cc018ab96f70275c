from django.contrib import admin

from .models import Exchange, Market


class MarketInline(admin.TabularInline):
    model = Market
    extra = 0
    fields = ("symbol", "native_symbol", "base", "quote", "price_tick", "quantity_step", "min_notional", "active")


@admin.register(Exchange)
class ExchangeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "protocol", "enabled", "testnet", "ws_url", "rest_url")
    list_filter = ("enabled", "testnet", "protocol")
    search_fields = ("code", "name")
    inlines = [MarketInline]


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    list_display = ("symbol", "exchange", "native_symbol", "price_tick", "quantity_step", "min_notional", "active")
    list_filter = ("exchange", "active", "quote")
    search_fields = ("symbol", "native_symbol", "base", "quote")
    list_select_related = ("exchange",)
