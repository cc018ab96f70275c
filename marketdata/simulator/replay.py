"""Replay a recorded session (``*/sessions/*.jsonl``) or a CSV price path through the simulator.

Both kinds start when the venue's first client connects. Session files (format in
``tests/fixtures/exchanges/README.md``): the ``in`` frames are sent verbatim, at their recorded spacing
divided by ``speed`` (0: as fast as possible). Binance frames go to the connections subscribed to
their stream (unwrapped for ``/ws`` clients); Coinbase and Kraken frames go to every connection of
the venue. Recorded ``rest`` replies (Binance depth snapshots) are served by ``/binance/api/v3/depth``
for their symbol. CSV files (``timestamp,price`` or ``price`` per line, optional header) drive one
market with :meth:`Market.move_to`, its random walk paused.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from .model import Market
from .venue import Venue

log = logging.getLogger(__name__)


@dataclass
class Session:
    """The frames of one recorded session, with times in seconds from its first frame."""

    venue: str
    frames: list[tuple[float, str]] = field(default_factory=list)
    rest: list[tuple[float, str, str]] = field(default_factory=list)  # (time, url, body)


def venue_of(path: Path, url: str) -> str:
    """The venue a recording belongs to, from its connect URL or folder name."""
    text = f"{url} {path}".lower()
    for needle, venue in (("binance", "binance"), ("coinbase", "coinbase"), ("kraken", "kraken")):
        if needle in text:
            return venue
    raise ValueError(f"cannot tell the venue of {path}")


def load_session(path: Path) -> Session:
    """Parse a session JSONL file."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    url = next((r.get("url", "") for r in rows if r.get("dir") == "connect"), "")
    session = Session(venue_of(path, url))
    start: float | None = None
    for row in rows:
        if "t" in row:
            moment = float(row["t"])
        elif "recv_mono_ns" in row:
            moment = int(row["recv_mono_ns"]) / 1e9
        else:
            moment = float(row.get("seq", 0)) / 1000
        start = moment if start is None else start
        if row.get("dir") == "in":
            session.frames.append((moment - start, row["raw"]))
        elif row.get("dir") == "rest":
            session.rest.append((moment - start, row["url"], row["raw"]))
    return session


def load_prices(path: Path) -> list[tuple[float | None, Decimal]]:
    """``(seconds from the first row or None, price)`` from a CSV of ``timestamp,price`` or ``price``."""
    out: list[tuple[float | None, Decimal]] = []
    first: float | None = None
    with path.open(newline="") as handle:
        for row in csv.reader(handle):
            cells = [c.strip() for c in row if c.strip()]
            if not cells:
                continue
            try:
                price = Decimal(cells[-1])
                stamp = float(cells[0]) if len(cells) > 1 else None
            except (InvalidOperation, ValueError):
                continue  # a header or a bad line
            if not price.is_finite() or price <= 0:
                continue
            if stamp is not None and stamp > 1e11:  # epoch milliseconds
                stamp /= 1000
            if stamp is not None:
                first = stamp if first is None else first
                stamp -= first
            out.append((stamp, price))
    return out


class ReplayHost(Protocol):
    """What the replayer drives in the simulator that hosts it."""

    venues: dict[str, Venue]
    update_interval: float

    def market(self, venue: str, symbol: str) -> Market: ...

    async def set_price(self, venue: str, symbol: str, price: Decimal | str, qty: Decimal | str | None = None) -> None:
        ...


class Replayer:
    """Drives a replay file through a running simulator."""

    def __init__(self, sim: ReplayHost, path: str | Path, speed: float = 1.0, venue: str = "binance",
                 symbol: str | None = None) -> None:
        self.sim, self.path, self.speed = sim, Path(path), speed
        self.venue, self.symbol = venue, symbol
        self.sent = 0
        self.done = asyncio.Event()
        self.clock = 0.0  # replay time reached, in recorded seconds
        self.session: Session | None = None
        if self.path.suffix == ".jsonl":
            self.session = load_session(self.path)
            self.venue = self.session.venue
            self.sim.venues[self.venue].replay = self

    async def _wait(self, target: float, started: float) -> None:
        if self.speed > 0:
            loop = asyncio.get_running_loop()
            delay = started + target / self.speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        self.clock = target

    async def run(self) -> None:
        """Play the file once, then set :attr:`done`."""
        try:
            if self.session is not None:
                await self._run_session(self.session)
            else:
                await self._run_prices()
        finally:
            self.done.set()

    async def _first_client(self) -> None:
        venue = self.sim.venues[self.venue]
        while not venue.connections:  # nobody would hear the first frames
            await asyncio.sleep(0.01)

    async def _run_session(self, session: Session) -> None:
        venue = self.sim.venues[session.venue]
        await self._first_client()
        started = asyncio.get_running_loop().time()
        for moment, raw in session.frames:
            await self._wait(moment, started)
            self.sent += venue.send_replayed(raw)

    async def _run_prices(self) -> None:
        rows = load_prices(self.path)
        market = self.sim.market(self.venue, self.symbol or next(iter(self.sim.venues[self.venue].markets.by_symbol)))
        market.paused = True
        await self._first_client()
        started = asyncio.get_running_loop().time()
        for index, (stamp, price) in enumerate(rows):
            await self._wait(stamp if stamp is not None else index * self.sim.update_interval, started)
            await self.sim.set_price(self.venue, market.spec.symbol, price)
            self.sent += 1

    def rest_reply(self, url_path: str, query: dict[str, str]) -> str | None:
        """The latest recorded REST body for this path and symbol at the current replay time."""
        if self.session is None:
            return None
        best: str | None = None
        for moment, url, body in self.session.rest:
            parts = urlsplit(url)
            recorded = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if not parts.path.endswith(url_path) or recorded.get("symbol") != query.get("symbol"):
                continue
            if best is None or moment <= self.clock:
                best = body
        return best


def describe(replayer: Any) -> str:
    """One line about a replay, for the command's output."""
    kind = "session" if replayer.session is not None else "prices"
    return f"replay {kind} {replayer.path} on {replayer.venue} at speed {replayer.speed}"
