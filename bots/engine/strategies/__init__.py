"""Built-in strategies and the registry the admin, portal and engine look them up in.

Each strategy documents its parameters (``describe()``); ``validate_params`` is what a form calls
when a bot is saved and raises ``ParamsError`` whose ``errors`` maps each field to its messages.
"""

from __future__ import annotations

from typing import Any

from .base import Param, ParamsError, Signal, Strategy, StrategyContext
from .crossover import Crossover
from .dca import Dca
from .grid import Grid
from .rsi import RsiReversion

STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (Crossover, RsiReversion, Grid, Dca)}


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class for a name, or ``ParamsError`` on the ``strategy`` field."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ParamsError({"strategy": [f"Unknown strategy {name!r}; use one of {', '.join(STRATEGIES)}."]})\
            from None


def validate_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Cleaned parameters for ``name`` (defaults filled), or ``ParamsError`` with per-field errors."""
    return get_strategy(name).validate(params)


def build_strategy(name: str, params: dict[str, Any] | None) -> Strategy:
    """A new strategy instance."""
    return get_strategy(name)(params or {})


def describe_strategies() -> list[dict[str, Any]]:
    """Every built-in strategy with its documentation and parameters."""
    return [cls.describe() for cls in STRATEGIES.values()]


__all__ = ["STRATEGIES", "Param", "ParamsError", "Signal", "Strategy", "StrategyContext", "build_strategy",
           "describe_strategies", "get_strategy", "validate_params"]
