"""Bot validation, in one place: ``Bot.clean`` (and so the admin's form) and the portal's ``BotForm`` both
call ``check_bot`` and show its errors on their own fields.

It takes plain values (the bot's strategy, raw parameters, amounts, mode and the chosen market, exchange
and account rows) so a form can check what was typed before any row exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from marketdata.feeds.serialize import decimal_text

from .engine.strategies import ParamsError, validate_params

LIVE = "live"


@dataclass(slots=True)
class BotCheck:
    """What ``check_bot`` found: ``errors`` by bot field, ``param_errors`` by strategy parameter, and the
    cleaned parameters (defaults filled, decimals as exact text) when they are valid."""

    errors: dict[str, list[str]] = field(default_factory=dict)
    param_errors: dict[str, list[str]] = field(default_factory=dict)
    params: dict[str, Any] | None = None

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.param_errors


def check_bot(*, strategy: str | None, params: dict[str, Any] | None, capital: Decimal | None,
              order_size: Decimal | None, mode: str | None, live_confirmed: bool, market: Any = None,
              account: Any = None, exchange: Any = None) -> BotCheck:
    """Every rule a bot's settings must meet: the strategy's parameter schema, an order size within the
    capital, one exchange for market and account, and live trading only with an account and an explicit
    confirmation. ``market``, ``account`` and ``exchange`` are rows (or None when not chosen)."""
    check = BotCheck()
    if strategy:
        try:
            cleaned = validate_params(strategy, params)
        except ParamsError as exc:
            for name, messages in exc.errors.items():
                target = check.errors if name == "strategy" else check.param_errors
                target.setdefault(name, []).extend(messages)
        else:
            # JSON keeps decimals as text so no digit is lost; the engine re-validates on load.
            check.params = {k: decimal_text(v) if isinstance(v, Decimal) else v for k, v in cleaned.items()}
    if capital is not None and order_size is not None and order_size > capital:
        check.add("order_size", "Must not be more than the capital.")
    if market is not None and exchange is not None and market.exchange_id != exchange.pk:
        check.add("market", "The market belongs to another exchange.")
    venue = market.exchange if market is not None else exchange
    if account is not None and venue is not None and account.exchange_id != venue.pk:
        check.add("account", f"This account is for {account.exchange.name}, not {venue.name}.")
    if mode == LIVE:
        if account is None:
            check.add("account", "Live trading needs an exchange account.")
        if not live_confirmed:
            check.add("live_confirmed", "Tick this box to trade live: it confirms real orders.")
    return check
