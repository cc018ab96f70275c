"""The shape every venue adapter has, so adding a venue is one folder and one registry entry.

An adapter is pure protocol code: it builds subscribe/unsubscribe frames, maps symbols both ways,
states the venue's limits and keep-alive rules, and creates a per-connection ``Session`` that turns
frames into normalised events. A session is stateful where the protocol needs it (book sync,
sequence numbers, checksums) and asks the connection for help through ``Action`` objects
(fetch a REST snapshot, resubscribe a stream) instead of doing I/O itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

from marketdata.feeds.book import OrderBook
from marketdata.feeds.types import Candle, Channel, MarketEvent, Subscription, Ticker

Emit = Callable[[MarketEvent], None]
# A session's parser of one channel: (session, decoded frame, receive_ns).
ChannelHandler = Callable[[Any, dict, int], None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ParseError(ValueError):
    """A frame the adapter cannot turn into events; the connection counts it and skips it."""


# What a well-formed JSON frame of the wrong shape raises while a parser reads its fields (a missing
# key, a list where an object was expected, a bad number): each parser turns these into ParseError.
BAD_FIELDS = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, IndexError)


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

    def by_channel(self, msg: dict, channel: Any, handlers: Mapping[str, ChannelHandler],
                   ignored: frozenset[str], receive_ns: int) -> bool:
        """Hand a decoded frame to the handler of its ``channel`` (True), or skip an ``ignored`` one (True);
        False when no handler knows it (the venue's replies and errors: the session decides). A frame of
        the wrong shape (a missing key, a bad number) raises ``ParseError`` naming the channel."""
        try:
            handler = handlers.get(channel)
            if handler is None:
                return channel in ignored
            handler(self, msg, receive_ns)
        except ParseError:
            raise
        except BAD_FIELDS as exc:
            raise ParseError(f"bad {channel}: {exc!r}") from exc
        return True

    def forget(self, sub: Subscription) -> None:
        """Drop the state of an unsubscribed stream: its book and any resync under way."""
        if sub.channel == "book":
            self.books.pop(sub.symbol, None)
            self.resyncing.pop(sub.symbol, None)


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


# --- trading: what every venue's signed client speaks (``<venue>/trading.py`` implements it) ----------

ZERO = Decimal(0)
Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue's adapter can do; the engine host, reconciliation, jobs and forms ask this, never a name."""

    live_trading: bool = False
    order_types: frozenset[str] = frozenset()
    client_order_ids: bool = False  # our id travels with the order and finds it again
    testnet: Endpoint | None = None  # the venue's sandbox (both endpoints move); None: it has none
    reconcile: bool = False  # open orders, lookup by client order id and fills can be read back
    klines: bool = False  # closed candles over public REST (warm-up)
    market_list: bool = False  # public market list with tick, step and minimum notional
    key_permissions: bool = False  # the key's rights (trade, withdraw) can be read or probed
    protective_stops: bool = False  # a sell stop(-limit) rests on the venue (``place_protective_stop``)


@dataclass(frozen=True, slots=True)
class Credentials:
    """An account's API key. ``secret`` is the venue's secret (Coinbase: the EC private key PEM)."""

    api_key: str = field(repr=False)  # never in a log line or a traceback's locals
    secret: str = field(repr=False)
    passphrase: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class VenueTrade:
    """One execution on the venue; ``trade_id`` is unique per (venue, market)."""

    trade_id: str
    exchange_order_id: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time: datetime
    is_maker: bool = False


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """The venue's view of one order, in our vocabulary (statuses: open, partially_filled, filled,
    canceled, pending_cancel, rejected, expired, submitted, unknown). ``trades`` come with an answer
    when the venue sends them inline (Binance's FULL order response)."""

    client_order_id: str
    exchange_order_id: str
    status: str
    quantity: Decimal
    filled_quantity: Decimal = ZERO
    side: str = ""
    type: str = ""
    price: Decimal | None = None
    time: datetime | None = None
    trades: tuple[VenueTrade, ...] = ()
    stop_price: Decimal | None = None  # a stop order's trigger


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to place: unified symbol, our client order id, Decimal quantity (base) and price."""

    symbol: str
    client_order_id: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset of an account: ``free`` to trade, ``total`` including what open orders hold."""

    free: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class Fees:
    """The account's fee rates on one market (fractions: 0.001 is 0.1 %)."""

    maker: Decimal
    taker: Decimal


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """What an API key may do, as the venue states it (or as probing showed)."""

    read: bool
    trade: bool
    withdraw: bool
    detail: str = ""  # the venue's own words, shown on the account page


class VenueUnavailable(Exception):
    """The venue did not answer usefully (network, timeout, rate limit, 5xx, auth): retry later.
    Never means "not found": an order whose fate is unknown stays ``unknown``."""


class OrderAbsent(Exception):
    """The venue definitely answered that it has no order with this client order id (each venue's
    rule is written in its ``trading.py``)."""


class OrderRefused(Exception):
    """The venue refused the request for a stated reason (bad parameters, funds, permissions)."""


class TradingClient(Protocol):
    """One account's signed REST on one venue, in unified symbols (``BTC/USDT``), Decimal amounts.

    Every method raises ``VenueUnavailable`` when the answer is not a definite one; ``order`` and
    ``cancel`` raise ``OrderAbsent`` only on the venue's definite "no such order"; ``place`` raises
    ``OrderRefused`` when the venue refused it.
    """

    requests: int

    def expect(self, client_order_ids: Iterable[str]) -> None:
        """Our ids this client may meet (a venue that cannot carry them verbatim maps them back)."""
        ...

    async def place(self, order: OrderRequest) -> VenueOrder: ...

    async def cancel(self, symbol: str, client_order_id: str, exchange_order_id: str = "") -> VenueOrder: ...

    async def order(self, symbol: str, client_order_id: str, since: datetime | None = None,
                    exchange_order_id: str = "") -> VenueOrder:
        """By the venue's id when known (one cheap request), else by our client order id."""
        ...

    async def open_orders(self, symbol: str) -> list[VenueOrder]: ...

    async def place_protective_stop(self, symbol: str, quantity: Decimal, stop_price: Decimal, limit_price: Decimal,
                                    client_order_id: str) -> VenueOrder:
        """A sell stop-limit resting on the venue (adapters whose capabilities say ``protective_stops``):
        armed until the last price falls to ``stop_price``, then a limit sell at ``limit_price``.
        Cancel and look it up with ``cancel`` / ``order`` like any order."""
        ...

    async def trades(self, symbol: str, since: datetime, order_id: str = "") -> list[VenueTrade]: ...

    async def balances(self) -> dict[str, Balance]: ...

    async def fees(self, symbol: str) -> Fees: ...

    async def permissions(self) -> KeyPermissions: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class MarketRule:
    """One market of a venue's public list with its trading rules."""

    symbol: str  # unified, e.g. BTC/USDT
    native_symbol: str
    base: str
    quote: str
    price_tick: Decimal
    quantity_step: Decimal
    min_notional: Decimal
    active: bool


class RestClient(Protocol):
    """Public REST calls an adapter needs: the depth snapshot (Binance) and ticker polling (fallback)."""

    async def fetch_ticker(self, symbol: str) -> Ticker: ...

    async def fetch_depth(self, symbol: str, limit: int = 1000) -> bytes: ...

    async def fetch_candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """Up to ``limit`` closed candles, oldest first (venues without ``klines`` return [])."""
        ...

    async def fetch_markets(self) -> list[MarketRule]:
        """The venue's public market list with its rules."""
        ...

    async def close(self) -> None: ...


class Adapter(Protocol):
    """One venue's protocol: frames, symbols, limits and keep-alive."""

    name: str
    default_endpoint: Endpoint
    capabilities: Capabilities
    fee_schedule: Fees  # the venue's published base tier
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

    def trading_client(self, rest_url: str, credentials: Credentials, *, timeout: float = 10.0) -> TradingClient:
        """The signed client of one account (``rest_url`` empty: the venue's own endpoint)."""
        ...


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


# A stored candle as the history download pages it: open time (epoch ms), open, high, low, close, volume.
CandleRow = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal]
INTERVAL_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def interval_seconds(interval: str) -> int:
    """``"1m"`` -> 60, ``"4h"`` -> 14400; a ``ValueError`` for anything else."""
    try:
        return int(interval[:-1]) * INTERVAL_UNITS[interval[-1]]
    except (KeyError, ValueError, IndexError):
        raise ValueError(f"bad candle interval {interval!r}") from None


def step_of(decimals: Any) -> Decimal:
    """A step from a count of decimals: 8 -> 0.00000001."""
    return Decimal(1).scaleb(-int(decimals))


CHANNEL_NAMES: tuple[Channel, ...] = ("ticker", "trades", "book", "candles")
