"""The shape every venue adapter has, so adding a venue is one folder and one registry entry.

An adapter is pure protocol code: it builds subscribe/unsubscribe frames, maps symbols both ways,
states the venue's limits and keep-alive rules, and creates a per-connection ``Session`` that turns
frames into normalised events. A session is stateful where the protocol needs it (book sync,
sequence numbers, checksums) and asks the connection for help through ``Action`` objects
(fetch a REST snapshot, resubscribe a stream) instead of doing I/O itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from marketdata.feeds.book import OrderBook
from marketdata.feeds.types import Channel, MarketEvent, Subscription, Ticker

Emit = Callable[[MarketEvent], None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ParseError(ValueError):
    """A frame the adapter cannot turn into events; the connection counts it and skips it."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a venue lives: a WebSocket URL and a REST base URL (both overridable, e.g. the simulator)."""

    ws: str
    rest: str


@dataclass(frozen=True, slots=True)
class Action:
    """Something a session needs the connection to do for it.

    ``snapshot``: fetch the REST depth snapshot of ``symbol`` and hand it to ``session.apply_snapshot``.
    ``resubscribe``: send ``frames`` (an unsubscribe then a subscribe) to get a fresh venue snapshot.
    """

    kind: Literal["snapshot", "resubscribe"]
    symbol: str
    reason: str
    frames: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Limits:
    """Venue limits the connection and the manager respect."""

    max_streams_per_connection: int = 1024
    max_outgoing_per_second: float = 5.0
    max_lifetime_s: float | None = None  # reconnect before the venue cuts us off
    max_frame_bytes: int = 16 * 1024 * 1024
    max_params_per_frame: int = 100


@dataclass(slots=True)
class SessionBase:
    """Common state of a per-connection parse session."""

    emit: Emit
    exchange: str = ""  # the venue code events carry (e.g. "simulator" on Binance's protocol); set by new_session
    parse_errors: int = 0
    actions: list[Action] = field(default_factory=list)
    books: dict[str, OrderBook] = field(default_factory=dict)
    resyncs: int = 0
    resyncing: dict[str, str] = field(default_factory=dict)  # symbol -> why its book is being rebuilt
    on_resynced: Callable[[str, str], None] | None = None  # (symbol, reason) once the book is whole again

    def take_actions(self) -> list[Action]:
        """The pending actions, cleared."""
        out, self.actions = self.actions, []
        return out

    def apply_snapshot(self, symbol: str, payload: bytes, receive_ns: int) -> None:
        """A REST book snapshot, for venues whose books start from one (Binance); the others never ask."""
        raise ParseError(f"{self.exchange} books take no REST snapshot")


class Session(Protocol):
    """Per-connection parser: ``feed`` one frame, events go to ``emit``; raises only ``ParseError``."""

    @property
    def emit(self) -> Emit: ...

    exchange: str
    actions: list[Action]
    books: dict[str, OrderBook]
    resyncs: int
    resyncing: dict[str, str]
    on_resynced: Callable[[str, str], None] | None

    def feed(self, frame: str | bytes, receive_ns: int) -> None: ...

    def take_actions(self) -> list[Action]: ...

    def apply_snapshot(self, symbol: str, payload: bytes, receive_ns: int) -> None: ...

    def add(self, sub: Subscription, venue_symbol: str) -> None: ...

    def forget(self, sub: Subscription) -> None: ...


class RestClient(Protocol):
    """Public REST calls an adapter needs: the depth snapshot (Binance) and ticker polling (fallback)."""

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_depth(self, symbol: str, limit: int = 1000) -> bytes: ...

    async def close(self) -> None: ...


class Adapter(Protocol):
    """One venue's protocol: frames, symbols, limits and keep-alive."""

    name: str
    default_endpoint: Endpoint
    limits: Limits
    app_ping_interval: float | None  # venue-level ping (Kraken), None when protocol pings suffice

    def to_venue(self, symbol: str) -> str: ...

    def from_venue(self, venue_symbol: str) -> str: ...

    def streams(self, sub: Subscription) -> int: ...

    def connect_url(self, endpoint: Endpoint) -> str: ...

    def subscribe_frames(self, subs: Sequence[Subscription]) -> list[str]: ...

    def unsubscribe_frames(self, subs: Sequence[Subscription]) -> list[str]: ...

    def on_connect_frames(self) -> list[str]: ...

    def app_ping_frame(self) -> str | None: ...

    def new_session(self, emit: Emit, subs: Iterable[Subscription]) -> Session: ...

    def rest_client(self, endpoint: Endpoint) -> RestClient: ...


# --- small parsing helpers shared by the venues -------------------------------------------------


def ms_to_dt(ms: int) -> datetime:
    """An aware UTC datetime for epoch milliseconds (exact: no float)."""
    return EPOCH + timedelta(milliseconds=ms)


def iso_to_dt(text: str) -> datetime:
    """An aware UTC datetime for an ISO-8601 'Z' timestamp; nanoseconds are truncated to micros."""
    # fromisoformat (3.11) accepts 'Z' and more than 6 fractional digits.
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ParseError(f"naive timestamp {text!r}")
    return dt


WIRE_CACHE: dict[str, Decimal] = {}
WIRE_CACHE_SIZE = 16_384  # distinct price/size strings kept; cleared (not evicted one by one) when full


def wire_decimal(text: Any) -> Decimal:
    """A finite Decimal from a venue's number string, cached: quotes repeat the same strings tick after tick.

    Decimals are immutable, so sharing one instance is safe; the cache turns most conversions into
    one dict lookup and validates each distinct string once. Non-strings, NaN and infinities raise
    ``ParseError``.
    """
    d = WIRE_CACHE.get(text) if type(text) is str else None
    if d is not None:
        return d
    if type(text) is not str:
        raise ParseError(f"number not a string: {text!r}")
    try:
        d = Decimal(text)
    except ArithmeticError as exc:  # decimal.InvalidOperation
        raise ParseError(f"bad number {text!r}") from exc
    if not d.is_finite():
        raise ParseError(f"non-finite number {text!r}")
    if len(WIRE_CACHE) >= WIRE_CACHE_SIZE:
        WIRE_CACHE.clear()
    WIRE_CACHE[text] = d
    return d


def dec(value: Any) -> Decimal:
    """A finite Decimal from wire text (or a Decimal parsed by json); anything else is a ParseError."""
    try:
        d = value if type(value) is Decimal else Decimal(value if type(value) is str else str(value))
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ParseError(f"bad number {value!r}") from exc
    if not d.is_finite():
        raise ParseError(f"non-finite number {value!r}")
    if type(value) is not str and type(value) is not Decimal and type(value) is not int:
        raise ParseError(f"number of type {type(value).__name__}")
    return d


def opt_dec(value: Any) -> Decimal | None:
    """``dec`` that lets ``None`` through."""
    return None if value is None else dec(value)


CHANNEL_NAMES: tuple[Channel, ...] = ("ticker", "trades", "book", "candles")
