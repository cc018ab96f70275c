"""Plain value types of reconciliation: our view of an order, the exchange's view, and the errors.

The venue's side (``VenueOrder``, ``VenueTrade``, ``OrderAbsent``, ``VenueUnavailable``) is the
exchanges' typed interface (``marketdata.exchanges.base``). The one rule: a network error, a timeout
or any unexpected answer is ``VenueUnavailable`` and never means "not found"; only a venue's definite
answer (each venue writes its rule in its ``trading.py``) is ``OrderAbsent``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from marketdata.exchanges.base import Balance, OrderAbsent, VenueOrder, VenueTrade, VenueUnavailable

from ..engine.types import ZERO

__all__ = ["ZERO", "Balance", "BatchTruth", "LocalOrder", "OrderAbsent", "VenueClient", "VenueOrder", "VenueTrade",
           "VenueUnavailable"]


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
    """Read access to one account on one venue (a venue's ``TradingClient``, or the paper book)."""

    requests: int

    def expect(self, client_order_ids: Iterable[str]) -> None: ...

    async def open_orders(self, symbol: str) -> list[VenueOrder]: ...

    async def order(self, symbol: str, client_order_id: str, since: datetime | None = None,
                    exchange_order_id: str = "") -> VenueOrder:
        """The order, or raise ``OrderAbsent`` (the venue's definite answer) / ``VenueUnavailable``."""
        ...

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]: ...

    async def balances(self) -> dict[str, Balance]: ...

    async def close(self) -> None: ...
