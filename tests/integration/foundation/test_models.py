"""Model constraints and exact Decimal round trips, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.engine import types as core
from bots.models import Bot, BotMode, BotStatus, Fill, Order, OrderSide, OrderStatus, OrderType, Position
from marketdata.feeds.serialize import decimal_text
from marketdata.fields import to_decimal
from marketdata.models import Market

pytestmark = pytest.mark.django_db


def test_an_18_digit_amount_survives_the_database_exactly(make_bot, alice):
    bot = make_bot(alice, capital=Decimal("123456.789012345678"))
    order = Order.objects.create(bot=bot, side="buy", quantity=Decimal("0.000000000001"),
                                 price=Decimal("9999999999999999.123456789012"))
    bot.refresh_from_db()
    order.refresh_from_db()
    assert bot.capital == Decimal("123456.789012345678")
    assert order.quantity == Decimal("0.000000000001")
    assert order.price == Decimal("9999999999999999.123456789012")
    assert isinstance(order.price, Decimal)


def test_amounts_reject_floats_nan_and_infinity():
    with pytest.raises(ValidationError):
        to_decimal(0.1)
    with pytest.raises(ValidationError):
        to_decimal("NaN")
    with pytest.raises(ValidationError):
        to_decimal(Decimal("Infinity"))
    assert decimal_text(Decimal("0.000")) == "0"
    assert decimal_text(Decimal("1E+3")) == "1000"
    assert decimal_text(Decimal("-2.50")) == "-2.5"


def test_amount_filters_compare_with_zero(make_bot, alice):
    bot = make_bot(alice)
    Order.objects.create(bot=bot, side="buy", quantity=Decimal("0.5"))
    assert Order.objects.filter(quantity__gt=0).count() == 1
    assert Order.objects.filter(quantity=Decimal("0.50")).count() == 1


@pytest.mark.parametrize("quantity", [Decimal("0"), Decimal("-1"), Decimal("0.000")])
def test_an_order_quantity_must_be_positive_in_the_database(make_bot, alice, quantity):
    bot = make_bot(alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(bot=bot, side="buy", quantity=quantity)


def test_a_limit_order_needs_a_price(make_bot, alice):
    bot = make_bot(alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(bot=bot, side="buy", type="limit", quantity=Decimal("1"))


def test_every_order_gets_a_unique_client_order_id(make_bot, alice):
    bot = make_bot(alice)
    a = Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"))
    b = Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"))
    assert a.client_order_id and b.client_order_id and a.client_order_id != b.client_order_id
    assert len(a.client_order_id) <= 36  # Binance's limit for newClientOrderId
    assert a.client_order_id.startswith("bp-")  # the engine's one format, without a bot id
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"), client_order_id=a.client_order_id)


def test_a_fill_counts_once_per_exchange_trade_id(make_bot, alice):
    bot = make_bot(alice)
    order = Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"))
    kw = {"order": order, "exchange": bot.exchange, "trade_id": "T1", "price": Decimal("10"),
          "quantity": Decimal("1"), "time": timezone.now()}
    Fill.objects.create(**kw)
    with pytest.raises(IntegrityError), transaction.atomic():
        Fill.objects.create(**kw)


def test_one_open_position_per_bot_and_market(make_bot, alice):
    bot = make_bot(alice)
    now = timezone.now()
    Position.objects.create(bot=bot, market=bot.market, quantity=Decimal("1"), opened_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        Position.objects.create(bot=bot, market=bot.market, quantity=Decimal("1"), opened_at=now)
    Position.objects.filter(bot=bot).update(closed_at=now)
    Position.objects.create(bot=bot, market=bot.market, quantity=Decimal("2"), opened_at=now)  # a new one is fine


def test_live_mode_needs_an_account_and_explicit_confirmation(make_bot, alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_bot(alice, mode="live")


def test_bot_capital_must_be_positive(make_bot, alice):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_bot(alice, capital=Decimal("0"))


def test_the_catalogue_loads_idempotently_with_exchange_rules(catalogue):
    from marketdata.services import load_catalogue

    before = Market.objects.count()
    load_catalogue()
    assert Market.objects.count() == before >= 9
    btc = Market.objects.get(exchange__code="binance", symbol="BTC/USDT")
    assert (btc.native_symbol, btc.price_tick, btc.min_notional) == ("BTCUSDT", Decimal("0.01"), Decimal("5"))
    assert Market.objects.get(exchange__code="coinbase", symbol="BTC/USD").native_symbol == "BTC-USD"


def test_querysets_scope_rows_to_their_owner(make_bot, alice, bob):
    bot = make_bot(alice)
    Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"))
    assert Bot.objects.for_user(alice).count() == 1
    assert Bot.objects.for_user(bob).count() == 0
    assert Order.objects.for_user(bob).count() == 0
    assert Order.objects.for_user(alice).open().count() == 1


def test_the_models_choices_are_the_engines_vocabulary():
    assert tuple(OrderStatus.values) == core.ORDER_STATUSES
    assert (tuple(OrderSide.values), tuple(OrderType.values)) == (core.SIDES, core.ORDER_TYPES)
    assert (tuple(BotStatus.values), tuple(BotMode.values)) == (core.BOT_STATUSES, core.MODES)
    assert OrderStatus.PARTIALLY_FILLED.label == "Partially filled"
    assert Order._meta.get_field("client_order_id").default is core.new_client_order_id


def test_open_orders_are_those_not_in_a_final_status(make_bot, alice):
    bot = make_bot(alice)
    for status in core.ORDER_STATUSES:
        Order.objects.create(bot=bot, side="buy", quantity=Decimal("1"), status=status)
    assert set(Order.objects.open().values_list("status", flat=True)) == core.OPEN_STATUSES
    assert {o.status for o in Order.objects.all() if o.is_final} == core.FINAL_STATUSES
