"""Template helpers: amounts shown exactly (no float), P&L colours and the server-drawn chart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.html import format_html
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
def fixed(value: Any, places: Any = 8) -> str:
    """An amount at a market's precision (``149.439251573034|fixed:2`` -> ``149.44``); ``—`` for none."""
    d = as_decimal(value)
    if d is None:
        return "—"
    try:
        exp = Decimal(1).scaleb(-int(places))
    except (TypeError, ValueError):
        return amount(d)
    return format(d.quantize(exp), "f")


@register.filter
def pct(value: Any) -> str:
    """A signed percentage with two decimals (``1.5`` -> ``+1.50%``); empty for none."""
    d = as_decimal(value)
    if d is None:
        return ""
    d = d.quantize(Decimal("0.01"))
    if not d:
        return "0.00%"  # not "-0.00%" for a loss too small to show
    return f"{'+' if d > 0 else ''}{d}%"


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


@register.filter
def minutes(value: Any) -> str:
    """A timedelta as "15 minutes" (at least one); "a few minutes" when unknown."""
    seconds = getattr(value, "total_seconds", None)
    if seconds is None:
        return "a few minutes"
    count = max(1, round(seconds() / 60))
    return f"{count} minute{'s' if count != 1 else ''}"


PW, PH, PPAD = 800, 220, 36


@register.simple_tag
def pnl_chart(points: list[tuple[Any, Decimal]], quote: str = "") -> SafeString:
    """An SVG line of daily P&L (the portfolio page; drawn on the server, so it needs no JavaScript)."""
    if len(points) < 2:
        return format_html('<svg viewBox="0 0 {} {}" role="img" aria-label="P&amp;L over time">'
                           '<text x="{}" y="{}" class="label">P&amp;L history starts after the first daily '
                           'snapshot</text></svg>', PW, PH, PPAD, PH // 2)
    first, last = points[0][0], points[-1][0]
    days = max((last - first).days, 1)
    values = [v for _, v in points]
    lo, hi = min(min(values), Decimal(0)), max(max(values), Decimal(0))
    span = (hi - lo) or Decimal(1)

    def x(d: Any) -> float:
        return round(PPAD + (d - first).days / days * (PW - 2 * PPAD), 1)

    def y(v: Decimal) -> float:  # pixels, never money
        return round(PPAD / 2 + float((hi - v) / span) * (PH - 1.5 * PPAD), 1)

    line = " ".join(f"{x(d)},{y(v)}" for d, v in points)
    return format_html(
        '<svg viewBox="0 0 {w} {h}" role="img" aria-label="P&amp;L over time">'
        '<line x1="{p}" x2="{r}" y1="{z}" y2="{z}" class="zero"/>'
        '<polyline points="{line}" class="line"/>'
        '<text x="4" y="{ty}" class="label">{hi}</text><text x="4" y="{by}" class="label">{lo}</text>'
        '<text x="{p}" y="{dy}" class="label">{first}</text><text x="{rl}" y="{dy}" class="label">{last}</text>'
        '</svg>',
        w=PW, h=PH, p=PPAD, r=PW - PPAD, z=y(Decimal(0)), line=line, ty=PPAD / 2 + 4, by=PH - PPAD + 4,
        hi=f"{money(hi)} {quote}", lo=f"{money(lo)} {quote}", dy=PH - 6, first=first.isoformat(),
        rl=PW - PPAD - 64, last=last.isoformat())
