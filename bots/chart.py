"""The bot's price chart, drawn on the server as SVG: the one renderer.

The bot page includes it (so it works without JavaScript); with JavaScript, ``static/portal/chart.js``
re-requests it from ``/bots/<id>/chart.svg`` while prices arrive and swaps it in. Prices are ``Decimal``;
floats appear only as pixel coordinates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from marketdata.feeds.serialize import decimal_text

W, H, PAD, SLOTS = 800, 280, 24, 40  # pixels, and the window in 1-minute candles
RIGHT = 60  # pixels kept free on the right for the last price


def as_decimal(value: Any) -> Decimal | None:
    """A shown amount as a Decimal, or None when missing or not a finite number."""
    if value in (None, ""):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _price_range(candles: list[tuple[Any, ...]], fills: list[tuple[Any, ...]], levels: list[Decimal]
                 ) -> tuple[Decimal, Decimal] | None:
    """The prices at the bottom and the top of the drawing, with 8 % of air. Exit levels near the price
    widen it; far ones are pinned to an edge with an arrow, so a stop 3 % away does not flatten the
    candles into a line. None without a price to draw."""
    prices = [p for _, p, _ in fills if p is not None] + [p for c in candles for p in c[2:4] if p is not None]
    if not prices:
        return None
    lo, hi = min(prices), max(prices)
    span = max(hi - lo, hi * Decimal("0.002")) or Decimal(1)
    for v in levels:
        if lo - span < v < hi + span:
            lo, hi = min(lo, v), max(hi, v)
    span = (hi - lo) or Decimal(1)
    return lo - span * Decimal("0.08"), hi + span * Decimal("0.08")


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
    # A fixed window of SLOTS minutes ending at the newest candle or fill: new candles appear on the right.
    t1 = max(times, default=datetime.now(UTC)) + timedelta(minutes=1)
    t0 = t1 - timedelta(minutes=SLOTS)
    candles = [c for c in candles if c[0] >= t0]
    fills = [f for f in fills if f[0] >= t0]
    width = (t1 - t0).total_seconds()
    scale = _price_range(candles, fills, [v for _, v in lines])
    if scale is None:
        return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="price chart">'
                           '<text x="{}" y="{}" class="muted">No prices yet</text></svg>', W, H, W // 2 - 40, H // 2)
    lo, hi = scale

    def y(p: Decimal) -> float:
        """Pixel row of a price, kept inside the drawing (floats are pixels here, never money)."""
        return min(max(round(float(PAD + (hi - p) / (hi - lo) * (H - 2 * PAD)), 1), PAD / 2), H - PAD / 2)

    def x(t: datetime) -> float:
        return round(PAD + (t - t0).total_seconds() / width * (W - 2 * PAD - RIGHT), 1)

    # Numbers are formatted by Python and the only text (sides, amounts) is escaped: f-strings here, as
    # format_html's escaping of every number cost most of a 240-element chart's render time.
    cw = round((W - 2 * PAD - RIGHT) / SLOTS * 0.7, 1)
    parts = [f'<text x="4" y="{PAD}" class="label">{decimal_text(round(hi, 2))}</text>'
             f'<text x="4" y="{H - 6}" class="label">{decimal_text(round(lo, 2))}</text>']
    for t, o, h, low, c in candles:
        if None in (o, h, low, c):
            continue
        kind, left, mid = "up" if c >= o else "down", x(t), round(x(t) + cw / 2, 1)
        parts.append(f'<line x1="{mid}" x2="{mid}" y1="{y(h)}" y2="{y(low)}" class="wick {kind}"/>'
                     f'<rect x="{left}" y="{y(max(o, c))}" width="{cw}" height="{max(1.0, abs(y(o) - y(c)))}" '
                     f'class="candle {kind}"/>')
    for name, v in lines:
        arrow = " ↑" if v > hi else " ↓" if v < lo else ""
        parts.append(f'<line x1="{PAD}" x2="{W - PAD}" y1="{y(v)}" y2="{y(v)}" class="line-{name.lower()}"/>'
                     f'<text x="{W - PAD - 150}" y="{y(v) + (12 if y(v) < H / 2 else -4)}" class="label">'
                     f"{name} {decimal_text(v)}{arrow}</text>")
    for t, p, side in fills:
        if p is not None:
            side = escape(side)
            parts.append(f'<circle cx="{x(t)}" cy="{y(p)}" r="5" class="fill-{side}"><title>{side} '
                         f"{decimal_text(p)}</title></circle>")
    last = next((c[4] for c in reversed(candles) if c[4] is not None), None)
    if last is not None:
        parts.append(f'<text x="{W - RIGHT + 2}" y="{y(last) + 4}" class="label last">{decimal_text(last)}</text>')
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="price chart">{"".join(parts)}</svg>'
    )
