"""Admin: every model with useful columns; staff who are not superusers see only their own rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Bot, BotEvent, ExchangeAccount, Fill, Order, OrderEvent, Position, UserLimits
from .services.limits import set_user_limits


def run_service_on_each(model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, service: Any,
                        success: str) -> None:
    """An admin action's body: one service call per selected row, each refusal shown with its reason."""
    done = 0
    for obj in queryset:
        try:
            service(obj, actor=request.user.get_username())
            done += 1
        except ValueError as exc:
            model_admin.message_user(request, f"{obj}: {exc}", messages.ERROR)
    if done:
        model_admin.message_user(request, success.format(n=done), messages.SUCCESS)


class OwnerScopedAdmin(admin.ModelAdmin):
    """Superusers see everything; other staff see and change only rows they own."""

    owner_lookup = "owner"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{self.owner_lookup: request.user})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            if db_field.name == "owner":
                from django.contrib.auth import get_user_model

                kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
            elif db_field.name == "account":
                kwargs["queryset"] = ExchangeAccount.objects.for_user(request.user)
            elif db_field.name == "bot":
                kwargs["queryset"] = Bot.objects.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and "owner" in [f.name for f in self.model._meta.fields]:
            exclude.append("owner")
        return exclude

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not request.user.is_superuser and hasattr(obj, "owner_id") and not change:
            obj.owner = request.user
        super().save_model(request, obj, form, change)


class ExchangeAccountForm(forms.ModelForm):
    """Secrets are write-only: never rendered back; left empty on edit, they keep their value."""

    api_key = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)
    api_secret = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)
    passphrase = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)

    class Meta:
        model = ExchangeAccount
        fields = ("owner", "exchange", "label", "api_key", "api_secret", "passphrase")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("api_key", "api_secret", "passphrase"):
            if not data.get(name):
                if self.instance.pk:
                    data[name] = getattr(self.instance, name)  # keep the stored secret
                elif name != "passphrase":
                    self.add_error(name, "This field is required.")
        return data


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(OwnerScopedAdmin):
    form = ExchangeAccountForm
    list_display = ("label", "exchange", "owner", "masked_key", "created_at")
    list_filter = ("exchange",)
    search_fields = ("label", "owner__username")
    list_select_related = ("exchange", "owner")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderInline(ReadOnlyInline):
    model = Order
    fields = ("client_order_id", "side", "type", "quantity", "price", "status", "filled_quantity", "created_at")
    readonly_fields = fields
    ordering = ("-created_at",)


class PositionInline(ReadOnlyInline):
    model = Position
    fields = ("market", "quantity", "average_entry", "realized_pnl", "stop_loss_price", "take_profit_price",
              "opened_at", "closed_at")
    readonly_fields = fields


@admin.register(Bot)
class BotAdmin(OwnerScopedAdmin):
    list_display = ("name", "owner", "exchange", "market", "strategy", "mode", "status", "status_reason",
                    "heartbeat_at")
    list_filter = ("status", "mode", "exchange", "strategy")
    search_fields = ("name", "owner__username", "market__symbol")
    list_select_related = ("owner", "exchange", "market")
    readonly_fields = ("status", "status_reason", "heartbeat_at", "created_at", "updated_at")
    inlines = [PositionInline, OrderInline]
    actions = ["start_bots", "stop_bots", "pause_bots"]

    def _act(self, request: HttpRequest, queryset: QuerySet, service: Any, verb: str) -> None:
        run_service_on_each(self, request, queryset, service, f"{verb} requested for {{n}} bot(s).")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """An edit goes through the portal's service: a BotEvent, and the engine hosting it reloads."""
        if not change:
            super().save_model(request, obj, form, change)
            return
        from .services.portal import BOT_FIELDS, update_bot

        stored = Bot.objects.get(pk=obj.pk)  # ``obj`` already carries the form's values
        data = {name: getattr(obj, name) for name in BOT_FIELDS if name in form.changed_data}
        other = [f for f in form.changed_data if f not in BOT_FIELDS and f in {x.name for x in Bot._meta.fields}]
        for name in other:  # e.g. the owner, which only a superuser sees
            setattr(stored, name, getattr(obj, name))
        if other:
            stored.save(update_fields=[*other, "updated_at"])
        update_bot(stored, data, actor=f"admin {request.user.get_username()}")

    @admin.action(description="Start selected bots")
    def start_bots(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, services.start_bot, "Start")

    @admin.action(description="Stop selected bots")
    def stop_bots(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, services.stop_bot, "Stop")

    @admin.action(description="Pause selected bots")
    def pause_bots(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._act(request, queryset, services.pause_bot, "Pause")


class ReadOnlyAdmin(OwnerScopedAdmin):
    """Orders, fills and logs are written by the platform only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ("time", "status", "message")
    readonly_fields = fields
    show_change_link = False


class FillInline(ReadOnlyInline):
    model = Fill
    fields = ("trade_id", "price", "quantity", "fee", "fee_asset", "time")
    readonly_fields = fields
    show_change_link = False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    owner_lookup = "bot__owner"
    list_display = ("client_order_id", "bot", "side", "type", "quantity", "price", "status", "filled_quantity",
                    "average_fill_price", "created_at")
    list_filter = ("status", "side", "type", "is_paper")
    search_fields = ("client_order_id", "exchange_order_id", "bot__name")
    list_select_related = ("bot",)
    date_hierarchy = "created_at"
    inlines = [FillInline, OrderEventInline]


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    owner_lookup = "order__bot__owner"
    list_display = ("trade_id", "order", "exchange", "price", "quantity", "fee", "fee_asset", "time")
    list_filter = ("exchange",)
    search_fields = ("trade_id", "order__client_order_id")
    list_select_related = ("order__bot__market", "exchange")


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    owner_lookup = "bot__owner"
    list_display = ("bot", "market", "quantity", "average_entry", "realized_pnl", "stop_loss_price",
                    "take_profit_price", "opened_at", "closed_at")
    list_filter = ("market__exchange",)
    search_fields = ("bot__name", "market__symbol")
    list_select_related = ("bot", "market")


@admin.register(BotEvent)
class BotEventAdmin(ReadOnlyAdmin):
    owner_lookup = "bot__owner"
    list_display = ("time", "bot", "kind", "message")
    list_filter = ("kind",)
    search_fields = ("bot__name", "message")
    list_select_related = ("bot",)
    date_hierarchy = "time"


from .models import DailyPnlSnapshot, Discrepancy  # noqa: E402  (appended with the reconcile admin)


@admin.register(Discrepancy)
class DiscrepancyAdmin(ReadOnlyAdmin):
    """Differences reconciliation found; resolved with the adopt / ignore / flatten actions."""

    list_display = ("created_at", "kind", "status", "owner", "account", "bot", "symbol", "message")
    list_filter = ("status", "kind")
    search_fields = ("message", "symbol", "key", "bot__name")
    list_select_related = ("owner", "account__exchange", "bot")
    date_hierarchy = "created_at"
    actions = ["adopt", "ignore", "flatten"]

    def _resolve(self, request: HttpRequest, queryset: QuerySet, service_name: str, verb: str) -> None:
        # Imported here: the resolvers load ccxt (seconds of import), which the web process
        # should pay only when an admin actually resolves a discrepancy.
        from .services import reconcile_resolve

        service = getattr(reconcile_resolve, service_name)
        run_service_on_each(self, request, queryset, service, f"{verb} {{n}} discrepancy(ies).")

    @admin.action(description="Adopt: take the exchange's truth into our rows")
    def adopt(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._resolve(request, queryset, "adopt_discrepancy", "Adopted")

    @admin.action(description="Ignore")
    def ignore(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._resolve(request, queryset, "ignore_discrepancy", "Ignored")

    @admin.action(description="Flatten: cancel the order on the exchange")
    def flatten(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._resolve(request, queryset, "flatten_discrepancy", "Flattened")


@admin.register(DailyPnlSnapshot)
class DailyPnlSnapshotAdmin(ReadOnlyAdmin):
    owner_lookup = "bot__owner"
    list_display = ("date", "bot", "realized", "unrealized", "equity", "mark_price")
    list_filter = ("date",)
    search_fields = ("bot__name",)
    list_select_related = ("bot",)
    date_hierarchy = "date"


@admin.register(UserLimits)
class UserLimitsAdmin(OwnerScopedAdmin):
    """An admin sets any user's account-wide limits; saving goes through the service (the engine reloads)."""

    owner_lookup = "user"
    list_display = ("user", "max_exposure", "max_daily_loss", "max_open_orders", "updated_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        set_user_limits(obj.user, max_exposure=obj.max_exposure, max_daily_loss=obj.max_daily_loss,
                                 max_open_orders=obj.max_open_orders)


from .models import BacktestRun, BacktestSweep  # noqa: E402  (the backtest admin)
from .services import backtest_runs  # noqa: E402


class BacktestRunInline(ReadOnlyInline):
    model = BacktestRun
    fields = ("params", "status", "summary", "oos_summary")


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    """Backtests are written by their service and task; deleting old ones is allowed."""

    list_display = ("id", "owner", "strategy", "market", "timeframe", "status", "progress", "created_at")
    list_filter = ("status", "strategy", "timeframe")
    list_select_related = ("owner", "market__exchange")
    exclude = ("result",)  # trades and curves: on the results page

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        backtest_runs.reap_stale()  # a run whose worker stopped is listed failed, with why
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


@admin.register(BacktestSweep)
class BacktestSweepAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "strategy", "market", "total", "status", "created_at")
    list_filter = ("status", "strategy")
    list_select_related = ("owner", "market__exchange")
    inlines = [BacktestRunInline]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        backtest_runs.reap_stale()
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True
