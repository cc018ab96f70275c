"""Template helpers: amounts shown exactly (no float), P&L colours and the server-drawn chart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.safestring import SafeString

from marketdata.feeds.serialize import decimal_text

from ..chart import as_decimal, render_price_chart

register = template.Library()


@register.filter
def amount(value: Any) -> str:
    """An exact amount without trailing zeros (``1.50000000`` -> ``1.5``); ``—`` for none."""
    d = as_decimal(value)
    return "—" if d is None else decimal_text(d)


@register.filter
def money(value: Any) -> str:
    """A quote-currency figure rounded to cents for display (``-9.0591`` -> ``-9.06``)."""
    d = as_decimal(value)
    return "—" if d is None else format(d.quantize(Decimal("0.01")), "f")


@register.filter
def pnl_class(value: Any) -> str:
    """``pos``, ``neg`` or ``zero``: the CSS class of a P&L figure."""
    d = as_decimal(value)
    if d is None or d == 0:
        return "zero"
    return "pos" if d > 0 else "neg"


@register.simple_tag
def price_chart(snapshot: dict[str, Any]) -> SafeString:
    """The bot's price chart (``bots.chart``, the one renderer; the live page re-requests it)."""
    return render_price_chart(snapshot)


@register.filter
def words(value: str) -> list[str]:
    """``"a b c"|words`` -> ``["a", "b", "c"]`` (for small fixed loops in templates)."""
    return str(value).split()


@register.filter
def or_dash(value: Any) -> Any:
    """The value, or ``—`` when it is missing (None or empty); unlike ``default``, keeps a zero."""
    return "—" if value is None or value == "" else value
