"""Binance's order statuses in the platform's vocabulary (the engine's ``OrderStatus`` values).

One map for every Binance answer about an order: the live broker's and reconciliation's.
``EXPIRED_IN_MATCH`` is self-trade prevention; ``PENDING_NEW`` is an order (of a list) accepted but
not yet working. Anything not listed maps to ``unknown`` (``order_status``).
"""

from __future__ import annotations

ORDER_STATUS: dict[str, str] = {
    "NEW": "open", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "canceled",
    "PENDING_CANCEL": "pending_cancel", "REJECTED": "rejected", "EXPIRED": "expired",
    "EXPIRED_IN_MATCH": "expired", "PENDING_NEW": "submitted",
}


def order_status(raw: object) -> str:
    """Our status for a Binance ``status`` field; ``unknown`` for anything we do not recognise."""
    return ORDER_STATUS.get(str(raw), "unknown")
