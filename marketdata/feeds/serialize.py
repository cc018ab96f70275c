"""Plain JSON-ready values: Decimals as exact text (``decimal_text``, the platform's one Decimal-to-text
helper), times as ISO-8601 UTC, and normalised events as dicts."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any, overload

from marketdata.feeds.types import MarketEvent


@overload
def decimal_text(value: Decimal) -> str: ...
@overload
def decimal_text(value: None) -> None: ...
def decimal_text(value: Decimal | None) -> str | None:
    """A Decimal's exact text: fixed point (never an exponent), no trailing zeros, zero as ``0``; None
    stays None. Databases, JSON payloads, the engine's durable form and pages all use this one form."""
    if value is None:
        return None
    if not value:
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # the venue's own digits, trailing zeros and all (what it sent is what we print)
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
