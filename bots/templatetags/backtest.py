"""Template helpers of the backtest pages."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

register = template.Library()


@register.filter
def metric(value: Any) -> str:
    """A metric for reading: at most four decimals, thousands apart; ``—`` for none."""
    if value in (None, ""):
        return "—"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not d.is_finite():
        return str(value)
    return f"{d.quantize(Decimal('0.0001')):,f}".rstrip("0").rstrip(".") if d != d.to_integral_value() else f"{d:,f}"


@register.filter
def params_text(params: dict[str, Any]) -> str:
    """``fast_period=10 slow_period=30``."""
    return " ".join(f"{k}={v}" for k, v in (params or {}).items())


@register.filter
def item(mapping: dict[str, Any], key: str) -> Any:
    return (mapping or {}).get(key)


@register.filter
def pick(params: dict[str, Any], keys: Any) -> dict[str, Any]:
    """Only the given keys of ``params`` (a sweep's rows show the swept parameters, not the fixed ones)."""
    return {k: v for k, v in (params or {}).items() if k in (keys or ())}
