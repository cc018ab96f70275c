"""Plain value types of the trading core: bot specs, risk settings, market rules, orders and fills.

No Django. Money and quantities are ``Decimal``; times are aware UTC ``datetime``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal, get_args

from marketdata.feeds.types import Instrument

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop"]
Mode = Literal["paper", "live"]
BotStatus = Literal["stopped", "starting", "running", "paused", "error"]
OrderStatus = Literal[
    "pending_submit", "submitted", "open", "partially_filled", "pending_cancel",
    "filled", "canceled", "rejected", "expired", "unknown",
]
# The one vocabulary: the models build their choices from these tuples (in this order).
SIDES: tuple[Side, ...] = get_args(Side)
ORDER_TYPES: tuple[OrderType, ...] = get_args(OrderType)
MODES: tuple[Mode, ...] = get_args(Mode)
BOT_STATUSES: tuple[BotStatus, ...] = get_args(BotStatus)
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
# An order in a final status never changes again; every other status is open (still live, or not
# yet known to be over).
FINAL_STATUSES: frozenset[str] = frozenset({"filled", "canceled", "rejected", "expired"})
OPEN_STATUSES: frozenset[str] = frozenset(ORDER_STATUSES) - FINAL_STATUSES
# Open statuses a row may hold before the exchange has confirmed it has the order.
UNCONFIRMED_STATUSES: frozenset[str] = frozenset({"pending_submit", "submitted", "unknown"})
# Why an order was made (stored as Order.reason). Sells with an exit purpose close the position and
# are tracked as its one exit in flight.
EXIT_PURPOSES: frozenset[str] = frozenset({"exit", "stop_loss", "take_profit", "trailing_stop"})
ZERO = Decimal(0)


AMOUNT_QUANTUM = Decimal("1e-12")  # the database keeps 12 decimal places (AmountField)


def amount(value: Decimal) -> Decimal:
    """``value`` rounded half-even to the 12 decimal places an amount is stored with."""
    return value.quantize(AMOUNT_QUANTUM)


def round_step(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step`` (a step of 0 leaves it unchanged)."""
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


CLIENT_ORDER_ID_MAX = 36  # Binance's limit for newClientOrderId, the shortest of our venues


def new_client_order_id(bot_id: int | str = "") -> str:
    """The one client order id format: ``bp<bot>-<20 hex>`` (``bp-<20 hex>`` for a row made without
    a bot, e.g. in the admin); unique per account and at most 36 chars."""
    return f"bp{bot_id}-{secrets.token_hex(10)}"[:CLIENT_ORDER_ID_MAX]


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What a venue accepts for one market: price tick, quantity step, minimum notional."""

    price_tick: Decimal = Decimal("0.01")
    quantity_step: Decimal = Decimal("0.00001")
    min_notional: Decimal = Decimal("10")
    base: str = ""
    quote: str = ""


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """A bot's risk limits. ``None`` (or 0 for percentages) disables a limit.

    ``order_size`` is the quote amount per entry order (default: the whole capital);
    ``max_position`` is the largest position in base units (as the ``Bot`` model defines it);
    percentages are in percent (2 is 2 %); ``max_daily_loss`` is a quote amount.
    """

    order_size: Decimal | None = None
    max_position: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    trailing_stop_pct: Decimal | None = None
    max_daily_loss: Decimal | None = None
    max_open_orders: int = 1
    cooldown_seconds: float = 0.0


@dataclass(slots=True)
class BotSpec:
    """Everything the engine needs to host one bot, loaded from the database by the host."""

    id: int
    owner_id: int
    name: str
    instrument: Instrument
    strategy: str
    params: dict[str, Any]
    mode: Mode = "paper"
    capital: Decimal = Decimal("1000")
    risk: RiskSettings = field(default_factory=RiskSettings)
    rules: MarketRules = field(default_factory=MarketRules)
    account_id: int | None = None


@dataclass(slots=True)
class Fill:
    """One execution of an order."""

    client_order_id: str
    trade_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime
    is_maker: bool = False


@dataclass(slots=True)
class Order:
    """An order as the engine tracks it; ``client_order_id`` is set before anything is written."""

    client_order_id: str
    bot_id: int
    instrument: Instrument
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None
    created_at: datetime
    purpose: str = "entry"  # entry | exit | stop_loss | take_profit | trailing_stop | grid | dca
    status: str = "pending_submit"
    exchange_order_id: str | None = None
    filled_quantity: Decimal = ZERO
    average_price: Decimal | None = None
    fees: Decimal = ZERO
    last_error: str = ""
    updated_at: datetime | None = None
    fill_ids: set[str] = field(default_factory=set)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled_quantity

    def apply_fill(self, fill: Fill) -> None:
        """Add one fill to the filled quantity, average price and fees, and move the status on."""
        total = self.filled_quantity + fill.quantity
        prior = (self.average_price or ZERO) * self.filled_quantity
        self.average_price = amount((prior + fill.price * fill.quantity) / total) if total else None
        self.filled_quantity = total
        self.fees += fill.fee
        self.status = "filled" if total >= self.quantity else "partially_filled"
        self.updated_at = fill.time


@dataclass(slots=True)
class OrderUpdate:
    """What a gateway reports about an order: a new status and any new fills."""

    client_order_id: str
    status: str
    exchange_order_id: str | None = None
    fills: list[Fill] = field(default_factory=list)
    error: str = ""
