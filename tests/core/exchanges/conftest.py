"""Recorded venue frames (``tests/fixtures/exchanges``) and a session that collects events."""

from __future__ import annotations

import pytest

from marketdata.exchanges.registry import get_adapter
from tests.fixtures import EXCHANGES as FIXTURES

RECEIVE_NS = 1_700_000_000_000_000_000


def lines(relative: str) -> list[str]:
    """Every non-empty line of a fixture file, exactly as recorded (a missing file fails the test)."""
    return [line for line in (FIXTURES / relative).read_text().splitlines() if line.strip()]


class Collector:
    """A session of one venue plus the events it emitted."""

    def __init__(self, venue: str) -> None:
        self.adapter = get_adapter(venue)
        self.events: list = []
        self.session = self.adapter.new_session(self.events.append, [])
        self.resynced: list[tuple[str, str]] = []
        self.session.on_resynced = lambda sym, why: self.resynced.append((sym, why))

    def feed(self, frame: str) -> list:
        before = len(self.events)
        self.session.feed(frame, RECEIVE_NS)
        return self.events[before:]


@pytest.fixture
def binance() -> Collector:
    return Collector("binance")


@pytest.fixture
def coinbase() -> Collector:
    return Collector("coinbase")


@pytest.fixture
def kraken() -> Collector:
    return Collector("kraken")
