"""Kraken's order-book checksum (WebSocket v1 and v2)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from decimal import Decimal


def level_text(value: Decimal | str) -> str:
    """A price or quantity as printed on the wire, with the dot removed and leading zeros stripped."""
    text = value if isinstance(value, str) else f"{value:f}"
    return text.replace(".", "").lstrip("0")


def kraken_checksum(asks: Iterable[tuple[Decimal | str, Decimal | str]],
                    bids: Iterable[tuple[Decimal | str, Decimal | str]]) -> int:
    """CRC32 over the top 10 asks (ascending) then the top 10 bids (descending).

    Each value must carry the digits the venue prints (``Decimal("1797.30")``, not ``1797.3``).
    """
    parts = [level_text(p) + level_text(q) for p, q in list(asks)[:10]]
    parts += [level_text(p) + level_text(q) for p, q in list(bids)[:10]]
    return zlib.crc32("".join(parts).encode()) & 0xFFFFFFFF
