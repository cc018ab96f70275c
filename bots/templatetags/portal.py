"""Template helpers: amounts shown exactly (no float), P&L colours and the server-drawn chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

W, H, PAD, SLOTS = 800, 280, 24, 40


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def amount(value: Any) -> str:
    """An exact amount without trailing zeros (``1.50000000`` -> ``1.5``); ``—`` for none."""
    d = _dec(value)
    if d is None:
        return "—"
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@register.filter
def fixed(value: Any, places: Any = 8) -> str:
    """An amount at a market's precision (``149.439251573034|fixed:2`` -> ``149.44``); ``—`` for none."""
    d = _dec(value)
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
    d = _dec(value)
    if d is None:
        return ""
    return f"{'+' if d > 0 else ''}{d.quantize(Decimal('0.01'))}%"


@register.filter
def money(value: Any) -> str:
    """A quote-currency figure rounded to cents for display (``-9.0591`` -> ``-9.06``)."""
    d = _dec(value)
    return "—" if d is None else format(d.quantize(Decimal("0.01")), "f")


@register.filter
def pnl_class(value: Any) -> str:
    """``pos``, ``neg`` or ``zero``: the CSS class of a P&L figure."""
    d = _dec(value)
    if d is None or d == 0:
        return "zero"
    return "pos" if d > 0 else "neg"


@register.simple_tag
def price_chart(snapshot: dict[str, Any]) -> SafeString:
    """An SVG of the bot's recent 1-minute candles, its fills (buy/sell markers) and its exit levels.

    This is what the page shows without JavaScript; with it, ``chart.js`` redraws the same in place
    and keeps the last candle moving with the live price."""
    candles = [(datetime.fromtimestamp(c["t"], UTC), *(_dec(c[k]) for k in "ohlc"))
               for c in snapshot.get("candles", [])]
    fills = [(datetime.fromisoformat(f["time"]), _dec(f["price"]), f["side"]) for f in snapshot.get("fills", [])]
    position = snapshot.get("bot", {}).get("position") or {}
    lines = [(name, _dec(position.get(key))) for name, key in
             (("SL", "stop_loss_price"), ("TP", "take_profit_price"), ("trail", "trailing_stop_price"))]
    lines = [(n, v) for n, v in lines if v is not None]
    times = [c[0] for c in candles] + [t for t, _, _ in fills]
    if not times:
        return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="price chart">'
                           '<text x="{}" y="{}" class="muted">No prices yet</text></svg>', W, H, W // 2 - 40, H // 2)
    # A fixed window of SLOTS minutes ending at the newest candle or fill, as the live chart draws it.
    t1 = max(times) + timedelta(minutes=1)
    t0 = t1 - timedelta(minutes=SLOTS)
    candles = [c for c in candles if c[0] >= t0]
    fills = [f for f in fills if f[0] >= t0]
    width = (t1 - t0).total_seconds()
    prices = [p for _, p, _ in fills if p is not None] + [p for c in candles for p in c[2:4] if p is not None]
    lo, hi = min(prices), max(prices)
    span = max(hi - lo, hi * Decimal("0.002")) or Decimal(1)
    for _, v in lines:  # near exit levels widen the scale; far ones are pinned to an edge (as chart.js does)
        if lo - span < v < hi + span:
            lo, hi = min(lo, v), max(hi, v)
    span = (hi - lo) or Decimal(1)
    lo, hi = lo - span * Decimal("0.08"), hi + span * Decimal("0.08")

    def y(p: Decimal) -> float:
        """Pixel row of a price, kept inside the drawing (floats are pixels here, never money)."""
        return min(max(round(float(PAD + (hi - p) / (hi - lo) * (H - 2 * PAD)), 1), PAD / 2), H - PAD / 2)

    def x(t: datetime) -> float:
        return round(PAD + (t - t0).total_seconds() / width * (W - 2 * PAD), 1)

    cw = (W - 2 * PAD) / SLOTS * 0.7
    bars = format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="wick {}"/>'
                                '<rect x="{}" y="{}" width="{}" height="{}" class="candle {}"/>',
                            ((x(t) + cw / 2, x(t) + cw / 2, y(h), y(low), "up" if c >= o else "down", x(t),
                              y(max(o, c)), round(cw, 1), max(1.0, abs(y(o) - y(c))), "up" if c >= o else "down")
                             for t, o, h, low, c in candles if None not in (o, h, low, c)))
    marks = format_html_join("", '<circle cx="{}" cy="{}" r="5" class="fill-{}"><title>{} {}</title></circle>',
                             ((x(t), y(p), s, s, p) for t, p, s in fills if p is not None))
    level = format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="line-{}"/>'
                                 '<text x="{}" y="{}" class="label">{} {}</text>',
                             ((PAD, W - PAD, y(v), y(v), n.lower(), W - PAD - 150, y(v) + (12 if y(v) < H / 2 else -4),
                               n, amount(v) + (" ↑" if v > hi else " ↓" if v < lo else "")) for n, v in lines))
    axis = format_html('<text x="4" y="{}" class="label">{}</text><text x="4" y="{}" class="label">{}</text>',
                       PAD, amount(round(hi, 2)), H - 6, amount(round(lo, 2)))
    return mark_safe(  # noqa: S308 - every part above is built by format_html
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="price chart">{axis}{bars}{level}{marks}</svg>'
    )


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
