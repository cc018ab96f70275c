"""Limits per user, across bots: what one owner's hosted bots hold and lose together.

A bot's own limits (``risk.check``) see one bot. A user with ten bots also sets account-wide limits:
the largest total exposure, the largest loss in a day across all bots (breaching it pauses every one
of the user's bots), and the most open orders at once. The engine keeps each owner's bots and limits
in memory (``OwnerBook``), so a check on the tick path asks no database; the host loads an owner's
limits when it hosts their first bot and replaces them when the user changes them.

Amounts are in the bots' quote currencies, added up as they are: a user trading BTC/USDT and BTC/USD
sets one limit over both (USDT and USD count one for one). Exposure is what the user's bots hold at
the last price (cost where no price came yet) plus their open buy orders' value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

from .positions import Position
from .strategies import StrategyContext
from .types import ZERO, BotSpec, Order


class Holding(Protocol):
    """What the totals read of a hosted bot (``bot.BotRunner``; a protocol so this module imports no bot)."""

    @property
    def spec(self) -> BotSpec: ...
    @property
    def position(self) -> Position: ...
    @property
    def ctx(self) -> StrategyContext: ...
    @property
    def orders(self) -> Mapping[str, Order]: ...
    def open_order_count(self) -> int: ...


R = TypeVar("R", bound=Holding)


@dataclass(frozen=True, slots=True)
class AccountLimits:
    """One user's limits across all of their bots; ``None`` means no limit."""

    max_exposure: Decimal | None = None
    max_daily_loss: Decimal | None = None
    max_open_orders: int | None = None

    @property
    def empty(self) -> bool:
        return self.max_exposure is None and self.max_daily_loss is None and self.max_open_orders is None


NO_LIMITS = AccountLimits()


@dataclass(slots=True)
class AccountState:
    """An owner's totals at one moment, as the risk check sees them."""

    limits: AccountLimits
    exposure: Decimal
    daily_pnl: Decimal
    open_orders: int


def bot_exposure(runner: Holding) -> Decimal:
    """What one bot holds at the last price, plus its open buy orders' value."""
    position = runner.position
    price = runner.ctx.price or position.average_entry or ZERO
    held = position.quantity * price
    for order in runner.orders.values():
        if order.side == "buy" and order.is_open:
            held += (order.quantity - order.filled_quantity) * (order.price or price)
    return held


class OwnerBook(Generic[R]):
    """Each owner's hosted bots and limits (the engine's in-memory view; no database)."""

    __slots__ = ("limits", "_bots")

    def __init__(self) -> None:
        self.limits: dict[int, AccountLimits] = {}
        self._bots: dict[int, dict[int, R]] = {}

    def add(self, runner: R) -> None:
        self._bots.setdefault(runner.spec.owner_id, {})[runner.spec.id] = runner

    def remove(self, runner: R) -> None:
        bots = self._bots.get(runner.spec.owner_id)
        if bots is not None:
            bots.pop(runner.spec.id, None)
            if not bots:
                del self._bots[runner.spec.owner_id]

    def bots(self, owner_id: int) -> Iterable[R]:
        return tuple(self._bots.get(owner_id, {}).values())

    def owners(self) -> list[int]:
        return list(self._bots)

    def has_limits(self, owner_id: int) -> bool:
        return owner_id in self.limits

    def set_limits(self, owner_id: int, limits: AccountLimits) -> None:
        self.limits[owner_id] = limits

    def state(self, owner_id: int, now: datetime) -> AccountState | None:
        """The owner's totals, or ``None`` when the owner has no account-wide limit (nothing to add up)."""
        limits = self.limits.get(owner_id, NO_LIMITS)
        if limits.empty:
            return None
        exposure, pnl, orders = ZERO, ZERO, 0
        for runner in self._bots.get(owner_id, {}).values():
            exposure += bot_exposure(runner)
            pnl += runner.position.daily_pnl(runner.ctx.price, now)
            orders += runner.open_order_count()
        return AccountState(limits, exposure, pnl, orders)

    def daily_loss_breaches(self, now: datetime) -> list[tuple[int, str]]:
        """Owners whose loss today across their bots reached their limit, with the reason to show."""
        out = []
        for owner_id, limits in self.limits.items():
            if limits.max_daily_loss is None or owner_id not in self._bots:
                continue
            pnl = sum((r.position.daily_pnl(r.ctx.price, now) for r in self._bots[owner_id].values()), ZERO)
            if pnl <= -limits.max_daily_loss:
                out.append((owner_id, account_daily_loss_reason(pnl, limits.max_daily_loss)))
        return out


def account_daily_loss_reason(pnl: Decimal, limit: Decimal) -> str:
    """The reason every one of the owner's bots shows when the account-wide daily loss pauses them."""
    return f"Account daily loss {-pnl:.2f} reached the limit {limit} across all bots"


def check_account(state: AccountState, buy_value: Decimal) -> tuple[list[tuple[str, str]], bool]:
    """Account-wide checks for a new entry of ``buy_value``: (code, reason) pairs and whether to pause
    all of the owner's bots (the daily loss)."""
    limits, found, pause = state.limits, [], False
    if limits.max_daily_loss is not None and state.daily_pnl <= -limits.max_daily_loss:
        found.append(("account_daily_loss", account_daily_loss_reason(state.daily_pnl, limits.max_daily_loss)))
        pause = True
    if limits.max_exposure is not None and state.exposure + buy_value > limits.max_exposure:
        found.append(("account_exposure", f"Account exposure would be {state.exposure + buy_value:.2f}, over the "
                                          f"limit {limits.max_exposure} across all bots"))
    if limits.max_open_orders is not None and state.open_orders >= limits.max_open_orders:
        found.append(("account_open_orders", f"Already {state.open_orders} open orders across all bots "
                                             f"(account max {limits.max_open_orders})"))
    return found, pause
