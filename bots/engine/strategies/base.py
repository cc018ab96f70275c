"""The strategy interface: a parameter schema, a callback per tick and per closed candle, and state
that can be rebuilt after a restart."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from marketdata.feeds.serialize import decimal_text
from marketdata.feeds.types import Candle

from ..types import OrderType, Side

ParamKind = Literal["int", "decimal", "choice", "bool"]
TIMEFRAMES = ("tick", "1m", "5m", "15m")


class ParamsError(ValueError):
    """Parameters that do not fit a strategy's schema; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter: its kind, default, bounds and a line of help shown in the admin and portal."""

    name: str
    kind: ParamKind
    help: str
    default: Any = None
    min: Decimal | int | None = None
    max: Decimal | int | None = None
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is None

    def clean(self, raw: Any) -> Any:
        """The value converted to this kind; ``ValueError`` with a readable message otherwise."""
        if self.kind == "bool":
            if isinstance(raw, bool):
                return raw
            raise ValueError("Must be true or false.")
        if self.kind == "choice":
            if raw not in self.choices:
                raise ValueError(f"Must be one of: {', '.join(self.choices)}.")
            return raw
        if self.kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int | str):
                raise ValueError("Must be a whole number.")
            try:
                value: Any = int(raw)
            except ValueError:
                raise ValueError("Must be a whole number.") from None
        else:
            if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal | float):
                raise ValueError("Must be a number.")
            try:
                # A float typed into a JSON form goes through its shortest text, never its binary value.
                value = Decimal(str(raw)) if not isinstance(raw, Decimal) else raw
            except InvalidOperation:
                raise ValueError("Must be a number.") from None
            if not value.is_finite():
                raise ValueError("Must be a finite number.")
        if self.min is not None and value < self.min:
            raise ValueError(f"Must be at least {self.min}.")
        if self.max is not None and value > self.max:
            raise ValueError(f"Must be at most {self.max}.")
        return value

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description for forms and documentation."""
        return {
            "name": self.name, "kind": self.kind, "help": self.help,
            "default": _text(self.default) if self.kind == "decimal" else self.default,
            "min": _text(self.min), "max": _text(self.max),
            "choices": list(self.choices), "required": self.required,
        }


def _text(value: Any) -> Any:
    if value is None:
        return None
    return decimal_text(value) if isinstance(value, Decimal) else str(value)


@dataclass(slots=True)
class Signal:
    """What a strategy wants. Buys carry a quote ``amount`` (None: the bot's order size); sells carry
    a base ``quantity`` (None: the whole position)."""

    side: Side
    reason: str
    type: OrderType = "market"
    price: Decimal | None = None
    amount: Decimal | None = None
    quantity: Decimal | None = None
    purpose: str = "entry"
    data: dict[str, Any] = field(default_factory=dict)


class StrategyContext:
    """The read-only view of its bot a strategy sees (one object per bot, updated in place)."""

    __slots__ = ("price", "bid", "ask", "now", "position_qty", "average_entry", "open_orders",
                 "last_order_at", "capital")

    def __init__(self, capital: Decimal) -> None:
        self.price: Decimal | None = None
        self.bid: Decimal | None = None
        self.ask: Decimal | None = None
        self.now: datetime | None = None
        self.position_qty = Decimal(0)
        self.average_entry: Decimal | None = None
        self.open_orders = 0
        self.last_order_at: datetime | None = None
        self.capital = capital


class Strategy:
    """Base class. Subclasses set ``name``, ``title``, ``params`` and implement ``on_tick`` and/or
    ``on_candle``. ``timeframe`` is read from the ``timeframe`` parameter when the schema has one:
    ``tick`` strategies see every price, bar strategies see closed candles of that interval."""

    name: ClassVar[str]
    title: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    warmup: int = 0  # closed candles wanted at start (a strategy may set its own from its parameters)

    def __init__(self, params: dict[str, Any]) -> None:
        self.p = self.validate(params)
        self.timeframe: str = self.p.get("timeframe", "tick")

    @classmethod
    def validate(cls, params: dict[str, Any] | None) -> dict[str, Any]:
        """Cleaned parameters with defaults filled in, or ``ParamsError`` with every field's errors."""
        params = dict(params or {})
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        known = {p.name for p in cls.params}
        for name in sorted(set(params) - known):
            errors[name] = [f"Unknown parameter for {cls.title}."]
        for p in cls.params:
            if p.name not in params or params[p.name] in (None, ""):
                if p.required:
                    errors[p.name] = ["This field is required."]
                else:
                    cleaned[p.name] = p.default
                continue
            try:
                cleaned[p.name] = p.clean(params[p.name])
            except ValueError as exc:
                errors[p.name] = [str(exc)]
        if not errors:
            for name, message in cls.check(cleaned).items():
                errors.setdefault(name, []).append(message)
        if errors:
            raise ParamsError(errors)
        return cleaned

    @classmethod
    def check(cls, cleaned: dict[str, Any]) -> dict[str, str]:
        """Cross-field rules; return {field: message}. Override where fields depend on each other."""
        return {}

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Name, title, documentation and parameters, for forms and the README."""
        return {"name": cls.name, "title": cls.title, "doc": (cls.__doc__ or "").strip(),
                "params": [p.describe() for p in cls.params]}

    def on_tick(self, ctx: StrategyContext) -> Signal | None:
        """Called on every price update (``ctx.price`` is set). Return a signal or None."""
        return None

    def on_candle(self, ctx: StrategyContext, candle: Candle) -> Signal | None:
        """Called on each closed candle of ``timeframe``. Return a signal or None."""
        return None

    def warm_up(self, candles: list[Candle]) -> None:
        """Feed closed history (oldest first) into the indicators without producing signals."""


def timeframe_param(default: str = "1m") -> Param:
    """The shared ``timeframe`` parameter."""
    return Param("timeframe", "choice", "Evaluate on every tick or on closed candles of this interval.",
                 default=default, choices=TIMEFRAMES)
