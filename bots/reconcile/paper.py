"""The paper venue: the engine's ``PaperBroker`` book seen through the same ``VenueClient`` port.

A paper order exists on the paper book only while the engine process that accepted it lives, and
the broker answers a submit synchronously (it never times out). So an unconfirmed paper row
(pending_submit past its grace, submitted, unknown) that is not resting on the book was never
accepted, or was lost with its process: the paper venue's answer is a confirmed ``OrderAbsent``,
the same as ``PaperBroker.fetch`` gives the engine after a restart. Without a broker in this
process (a Celery worker), the book is empty: nothing rests there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marketdata.feeds.types import Instrument

from .types import Balance, OrderAbsent, VenueOrder, VenueTrade


class PaperVenue:
    """The ``VenueClient`` of one paper bot on one exchange."""

    def __init__(self, exchange: str, bot_id: int, broker: Any | None = None) -> None:
        self.exchange = exchange
        self.bot_id = bot_id
        self.broker = broker  # the engine's PaperBroker when the engine runs in this process
        self.requests = 0

    def _resting(self, symbol: str) -> dict[str, Any]:
        if self.broker is None:
            return {}
        book = self.broker.resting.get(Instrument(self.exchange, symbol), {})
        return {coid: o for coid, o in book.items() if o.bot_id == self.bot_id}

    @staticmethod
    def _view(order: Any) -> VenueOrder:
        return VenueOrder(order.client_order_id, order.exchange_order_id or "", "open", order.quantity,
                          order.filled_quantity, order.side, order.type, order.price, order.created_at)

    async def open_orders(self, symbol: str) -> list[VenueOrder]:
        self.requests += 1
        return [self._view(o) for o in list(self._resting(symbol).values())]

    def expect(self, client_order_ids: Any) -> None:
        """Paper ids are ours verbatim."""

    async def order(self, symbol: str, client_order_id: str, since: datetime | None = None,
                    exchange_order_id: str = "") -> VenueOrder:
        self.requests += 1
        resting = self._resting(symbol).get(client_order_id)
        if resting is None:
            raise OrderAbsent("The paper book has no such order: it was never accepted or its engine stopped")
        return self._view(resting)

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]:
        return []  # paper fills reach the engine in the submit's answer; there is no trade history

    async def balances(self) -> dict[str, Balance]:
        return {}

    async def close(self) -> None:
        return None
