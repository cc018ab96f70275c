"""Plain JSON-ready dicts of normalised events: Decimals as strings (exact), times as ISO-8601 UTC."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from marketdata.feeds.types import MarketEvent


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def event_to_dict(event: MarketEvent) -> dict[str, Any]:
    """{"type", "exchange", "symbol", "channel", ...every field}; Decimals as strings, never floats."""
    out: dict[str, Any] = {"type": type(event).__name__, "channel": event.channel}
    for f in fields(event):
        out[f.name] = _plain(getattr(event, f.name))
    return out
