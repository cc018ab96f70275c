from django.contrib import admin

from .models import Exchange, Market


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
