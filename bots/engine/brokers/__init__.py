"""Brokers: where orders go. ``PaperBroker`` fills against the live book; ``LiveBroker`` talks to an
exchange's REST API through ccxt."""

from .paper import DEFAULT_FEES, Fees, PaperBroker

__all__ = ["DEFAULT_FEES", "Fees", "PaperBroker"]
