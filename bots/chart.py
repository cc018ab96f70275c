"""The bot's price chart, drawn on the server as SVG: the one renderer.

The bot page includes it (so it works without JavaScript); with JavaScript, ``static/portal/chart.js``
re-requests it from ``/bots/<id>/chart.svg`` while prices arrive and swaps it in. Prices are ``Decimal``;
floats appear only as pixel coordinates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from marketdata.feeds.serialize import decimal_text

W, H, PAD, SLOTS = 800, 280, 24, 40  # pixels, and the window in 1-minute candles
RIGHT = 60  # pixels kept free on the right for the last price


def as_decimal(value: Any) -> Decimal | None:
    """A shown amount as a Decimal, or None when missing or not a number."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def render_price_chart(snapshot: dict[str, Any]) -> SafeString:
    """An SVG of the bot's recent 1-minute candles, its fills (buy/sell markers) and its exit levels,
    from a snapshot's ``candles``, ``fills`` and ``bot.position`` (``snapshots.bot_chart``)."""
    candles = [(datetime.fromtimestamp(c["t"], UTC), *(as_decimal(c[k]) for k in "ohlc"))
               for c in snapshot.get("candles", [])]
    fills = [(datetime.fromisoformat(f["time"]), as_decimal(f["price"]), f["side"]) for f in snapshot.get("fills", [])]
    position = snapshot.get("bot", {}).get("position") or {}
    lines = [(name, as_decimal(position.get(key))) for name, key in
             (("SL", "stop_loss_price"), ("TP", "take_profit_price"), ("trail", "trailing_stop_price"))]
    lines = [(n, v) for n, v in lines if v is not None]
    times = [c[0] for c in candles] + [t for t, _, _ in fills]
    if not times:
        return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="price chart">'
                           '<text x="{}" y="{}" class="muted">No prices yet</text></svg>', W, H, W // 2 - 40, H // 2)
    # A fixed window of SLOTS minutes ending at the newest candle or fill: new candles appear on the right.
    t1 = max(times) + timedelta(minutes=1)
    t0 = t1 - timedelta(minutes=SLOTS)
    candles = [c for c in candles if c[0] >= t0]
    fills = [f for f in fills if f[0] >= t0]
    width = (t1 - t0).total_seconds()
    prices = [p for _, p, _ in fills if p is not None] + [p for c in candles for p in c[2:4] if p is not None]
    lo, hi = min(prices), max(prices)
    span = max(hi - lo, hi * Decimal("0.002")) or Decimal(1)
    # Exit levels near the price widen the scale; far ones are pinned to an edge with an arrow, so a
    # stop 3 % away does not flatten the candles into a line.
    for _, v in lines:
        if lo - span < v < hi + span:
            lo, hi = min(lo, v), max(hi, v)
    span = (hi - lo) or Decimal(1)
    lo, hi = lo - span * Decimal("0.08"), hi + span * Decimal("0.08")

    places = snapshot.get("bot", {}).get("price_dp")  # the market's tick: labels read as its prices do

    def shown(p: Decimal) -> str:
        return format(p.quantize(Decimal(1).scaleb(-places)), "f") if places is not None else decimal_text(p)

    def y(p: Decimal) -> float:
        """Pixel row of a price, kept inside the drawing (floats are pixels here, never money)."""
        return min(max(round(float(PAD + (hi - p) / (hi - lo) * (H - 2 * PAD)), 1), PAD / 2), H - PAD / 2)

    def x(t: datetime) -> float:
        return round(PAD + (t - t0).total_seconds() / width * (W - 2 * PAD - RIGHT), 1)

    cw = (W - 2 * PAD - RIGHT) / SLOTS * 0.7
    bars = format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="wick {}"/>'
                                '<rect x="{}" y="{}" width="{}" height="{}" class="candle {}"/>',
                            ((x(t) + cw / 2, x(t) + cw / 2, y(h), y(low), "up" if c >= o else "down", x(t),
                              y(max(o, c)), round(cw, 1), max(1.0, abs(y(o) - y(c))), "up" if c >= o else "down")
                             for t, o, h, low, c in candles if None not in (o, h, low, c)))
    marks = format_html_join("", '<circle cx="{}" cy="{}" r="5" class="fill-{}"><title>{} {}</title></circle>',
                             ((x(t), y(p), s, s, shown(p)) for t, p, s in fills if p is not None))
    level = format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="line-{}"/>'
                                 '<text x="{}" y="{}" class="label">{} {}</text>',
                             ((PAD, W - PAD, y(v), y(v), n.lower(), W - PAD - 150, y(v) + (12 if y(v) < H / 2 else -4),
                               n, shown(v) + (" ↑" if v > hi else " ↓" if v < lo else "")) for n, v in lines))
    axis = format_html('<text x="4" y="{}" class="label">{}</text><text x="4" y="{}" class="label">{}</text>',
                       PAD, shown(hi), H - 6, shown(lo))
    last = next((c[4] for c in reversed(candles) if c[4] is not None), None)
    close = format_html('<text x="{}" y="{}" class="label last">{}</text>', W - RIGHT + 2, y(last) + 4,
                        shown(last)) if last is not None else ""
    return mark_safe(  # noqa: S308 - every part above is built by format_html
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="price chart">'
        f"{axis}{bars}{level}{marks}{close}</svg>"
    )
