"""Plain value types of reconciliation: our view of an order, the exchange's view, and the errors.

The one rule: a network error, a timeout or any unexpected answer is ``VenueUnavailable`` and
never means "not found". Only the venue's explicit answer to a targeted query (Binance -2013
"Order does not exist") is ``OrderAbsent``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from ..engine.types import ZERO


class VenueUnavailable(Exception):
    """The venue did not answer usefully (network, timeout, rate limit, 5xx, auth): retry later."""


class OrderAbsent(Exception):
    """The venue confirmed it has no order with this client order id."""


@dataclass(frozen=True, slots=True)
class LocalOrder:
    """Our row of a non-final order, as the planner needs it."""

    id: int
    client_order_id: str
    exchange_order_id: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal
    created_at: datetime
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The venue's view of one order."""

    client_order_id: str
    exchange_order_id: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal = ZERO
    side: str = ""
    type: str = ""
    price: Decimal | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One execution on the venue; ``trade_id`` is unique per venue."""

    trade_id: str
    exchange_order_id: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime
    is_maker: bool = False


@dataclass(slots=True)
class BatchTruth:
    """Everything fetched for one (account, symbol) batch.

    ``queried`` holds the targeted answers by client order id: a ``VenueOrder``, ``OrderAbsent``
    (confirmed absent) or a ``VenueUnavailable`` (no answer: the order stays as it is). ``trades``
    are fetched only when some order shows fills we have not recorded (or on a full pass).
    """

    open_orders: list[VenueOrder] = field(default_factory=list)
    trades: list[VenueTrade] = field(default_factory=list)
    queried: dict[str, VenueOrder | OrderAbsent | VenueUnavailable] = field(default_factory=dict)
    trades_complete: bool = True  # False when the trades could not be fetched this round


class VenueClient(Protocol):
    """Read-only access to one account on one venue, in unified symbols (``BTC/USDT``)."""

    async def open_orders(self, symbol: str) -> list[VenueOrder]: ...

    async def order(self, symbol: str, client_order_id: str) -> VenueOrder:
        """The order, or raise ``OrderAbsent`` (confirmed) / ``VenueUnavailable`` (anything else)."""
        ...

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]: ...

    async def balances(self) -> dict[str, Decimal]: ...

    async def close(self) -> None: ...
