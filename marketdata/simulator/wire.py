"""Number formatting, JSON helpers and raw WebSocket frame encoding shared by the venue protocols."""

from __future__ import annotations

import json
import struct
import time
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any


def fixed(value: Decimal, places: int) -> str:
    """``value`` printed with exactly ``places`` decimals (Binance prints 8, Kraken its pair precision)."""
    return f"{value:.{places}f}"


def plain(value: Decimal) -> str:
    """``value`` without exponent or trailing zeros, as Coinbase prints it ("72867.6", "0")."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def decimals_of(step: Decimal) -> int:
    """How many decimals a tick or lot size has (0.01 -> 2, 1 -> 0)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def quantize(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down onto the ``step`` grid."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


class Raw(str):
    """Text placed verbatim into JSON by :func:`dumps_raw` (a number with its printed digits)."""


def dumps_raw(obj: Any) -> str:
    """JSON text where :class:`Raw` values are written as bare tokens (Kraken v2 number precision)."""
    if isinstance(obj, Raw):
        return str(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps_raw(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(dumps_raw(v) for v in obj) + "]"
    if isinstance(obj, Decimal):
        return plain(obj)
    return json.dumps(obj, separators=(",", ":"))


def dumps(obj: Any) -> str:
    """Compact JSON; Decimals become strings (every venue except Kraken v2 quotes its numbers)."""
    return json.dumps(obj, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def now_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


def iso_us(ns: int | None = None) -> str:
    """RFC 3339 UTC with microseconds and ``Z`` (Kraken v2, Coinbase event times)."""
    ns = time.time_ns() if ns is None else ns
    moment = datetime.fromtimestamp(ns // 1000 / 1_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_ns(ns: int | None = None) -> str:
    """RFC 3339 UTC with nanoseconds (Coinbase's envelope ``timestamp``)."""
    ns = time.time_ns() if ns is None else ns
    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z"


def ws_text_frame(payload: str) -> bytes:
    """An unmasked, unfragmented server text frame (RFC 6455 5.2) for writing straight to the socket."""
    data = payload.encode()
    size = len(data)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + data
