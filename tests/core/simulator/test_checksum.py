"""The simulator's Kraken checksum reproduces the recorded and documented checksums."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from marketdata.simulator.checksum import kraken_checksum, level_text
from tests.fixtures import EXCHANGES

FIXTURES = EXCHANGES / "kraken_v2"


def _table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _table()


def crc32_reference(data: bytes) -> int:
    """Bitwise-table CRC-32 (IEEE 802.3), written out so the test does not trust zlib."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def independent_checksum(asks: list[tuple[str, str]], bids: list[tuple[str, str]]) -> int:
    text = "".join(p.replace(".", "").lstrip("0") + q.replace(".", "").lstrip("0") for p, q in asks[:10] + bids[:10])
    return crc32_reference(text.encode())


def frames(name: str) -> list[dict]:
    return [json.loads(line, parse_float=Decimal) for line in (FIXTURES / name).read_text().splitlines() if line]


def apply(book: dict[str, dict[Decimal, Decimal]], data: dict, depth: int) -> None:
    for side in ("bids", "asks"):
        for level in data[side]:
            if level["qty"] == 0:
                book[side].pop(level["price"], None)
            else:
                book[side][level["price"]] = level["qty"]
        keep = sorted(book[side], reverse=(side == "bids"))[:depth]
        book[side] = {p: book[side][p] for p in keep}


def sides(book: dict[str, dict[Decimal, Decimal]]) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    asks = sorted(book["asks"].items())
    bids = sorted(book["bids"].items(), reverse=True)
    return asks, bids


@pytest.mark.parametrize("name", ["book.jsonl", "doc_examples.jsonl"])
def test_simulator_checksum_reproduces_every_recorded_kraken_checksum(name: str) -> None:
    book: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    checked = 0
    for frame in frames(name):
        data = frame["data"][0]
        if frame["type"] == "snapshot":
            book = {"bids": {}, "asks": {}}
        apply(book, data, depth=10)
        asks, bids = sides(book)
        assert kraken_checksum(asks, bids) == data["checksum"]
        as_text = ([(f"{p:f}", f"{q:f}") for p, q in asks], [(f"{p:f}", f"{q:f}") for p, q in bids])
        assert independent_checksum(*as_text) == data["checksum"]
        checked += 1
    assert checked >= 1


def test_checksum_keeps_printed_trailing_zeros_and_strips_leading_ones() -> None:
    assert level_text(Decimal("1797.30")) == "179730"
    assert level_text(Decimal("0.00100000")) == "100000"
    assert level_text("0.99980") == "99980"


def test_reference_crc_matches_the_known_check_value() -> None:
    assert crc32_reference(b"123456789") == 0xCBF43926


def test_a_changed_quantity_changes_the_checksum() -> None:
    asks = [(Decimal("10.0"), Decimal("1.00000000"))]
    bids = [(Decimal("9.9"), Decimal("2.00000000"))]
    other = [(Decimal("9.9"), Decimal("2.00000001"))]
    assert kraken_checksum(asks, bids) != kraken_checksum(asks, other)
