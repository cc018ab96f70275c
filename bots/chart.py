"""The bot's price chart, drawn on the server as SVG: the one renderer.

The bot page includes it (so it works without JavaScript); with JavaScript, ``static/portal/chart.js``
re-requests it from ``/bots/<id>/chart.svg`` while prices arrive and swaps it in. Prices are ``Decimal``;
floats appear only as pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    places = snapshot.get("bot", {}).get("price_dp")  # the market's tick: labels read as its prices do
    return render_candles(candles, fills, lines, t1 - timedelta(minutes=SLOTS), t1, SLOTS, places=places)


def render_candles(candles: list[tuple[Any, ...]], fills: list[tuple[Any, ...]], lines: list[tuple[str, Decimal]],
                   t0: datetime, t1: datetime, slots: int, label: str = "price chart",
                   places: int | None = None) -> SafeString:
    """Candles ``(open time, o, h, l, c)`` of ``slots`` equal intervals from ``t0`` to ``t1``, fills
    ``(time, price, side)`` as markers and named exit levels as lines (the bot page's live window, a
    backtest's whole range)."""
    candles = [c for c in candles if c[0] >= t0]
    fills = [f for f in fills if f[0] >= t0]
    width = (t1 - t0).total_seconds()
    scale = _price_range(candles, fills, [v for _, v in lines])
    if scale is None:
        return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
                           '<text x="{}" y="{}" class="muted">No prices yet</text></svg>', W, H, label, W // 2 - 40,
                           H // 2)
    lo, hi = scale

    def shown(p: Decimal) -> str:
        return format(p.quantize(Decimal(1).scaleb(-places)), "f") if places is not None else decimal_text(p)

    def y(p: Decimal) -> float:
        """Pixel row of a price, kept inside the drawing (floats are pixels here, never money)."""
        return min(max(round(float(PAD + (hi - p) / (hi - lo) * (H - 2 * PAD)), 1), PAD / 2), H - PAD / 2)

    def x(t: datetime) -> float:
        return round(PAD + (t - t0).total_seconds() / width * (W - 2 * PAD - RIGHT), 1)

    # Numbers are formatted by Python and the only text (sides, amounts) is escaped: f-strings here, as
    # format_html's escaping of every number cost most of a 240-element chart's render time.
    cw = max(0.5, round((W - 2 * PAD - RIGHT) / slots * 0.7, 1))
    parts = [f'<text x="4" y="{PAD}" class="label">{shown(hi)}</text>'
             f'<text x="4" y="{H - 6}" class="label">{shown(lo)}</text>']
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
                     f"{name} {shown(v)}{arrow}</text>")
    for t, p, side in fills:
        if p is not None:
            side = escape(side)
            parts.append(f'<circle cx="{x(t)}" cy="{y(p)}" r="5" class="fill-{side}"><title>{side} '
                         f"{shown(p)}</title></circle>")
    last = next((c[4] for c in reversed(candles) if c[4] is not None), None)
    if last is not None:
        parts.append(f'<text x="{W - RIGHT + 2}" y="{y(last) + 4}" class="label last">{shown(last)}</text>')
    return mark_safe(  # noqa: S308 - numbers and escaped text only
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(label)}">{"".join(parts)}</svg>'
    )


# --- A backtest's charts: the equity curve with its drawdown, and the price over the run's range ------


def _empty(h: int, label: str) -> SafeString:
    """An empty chart of height ``h``."""
    return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><text x="{}" y="{}" '
                       'class="muted">No data</text></svg>', W, h, label, W // 2 - 30, h // 2)


def _scale(lo: float, hi: float, top: float, bottom: float) -> Callable[[float], float]:
    """Pixel rows for values from ``lo`` (at ``bottom``) to ``hi`` (at ``top``)."""
    span = (hi - lo) or 1.0
    return lambda v: round(top + (hi - v) / span * (bottom - top), 1)


def _label(ms: int) -> str:
    """Epoch milliseconds as a UTC minute."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def render_equity_chart(points: Sequence[Sequence[Any]], capital: float | None = None) -> SafeString:
    """Equity (top, 200 px) and drawdown in percent (bottom, 90 px) from ``(time ms, equity, dd %)``."""
    h = 320
    if len(points) < 2:
        return _empty(h, "equity curve")
    t0, t1 = points[0][0], points[-1][0]

    def tx(t: float) -> float:
        return round(PAD + (t - t0) / ((t1 - t0) or 1) * (W - 2 * PAD - RIGHT), 1)

    equities = [float(p[1]) for p in points]
    lo, hi = min(equities), max(equities)
    if capital is not None:
        lo, hi = min(lo, capital), max(hi, capital)
    pad = (hi - lo) * 0.05 or 1.0
    ye = _scale(lo - pad, hi + pad, PAD, 210)
    worst = max(float(p[2]) for p in points) or 1.0
    yd = _scale(-worst, 0.0, 230, h - 8)
    line = " ".join(f"{tx(p[0])},{ye(float(p[1]))}" for p in points)
    area = f"{tx(t0)},{yd(0)} " + " ".join(f"{tx(p[0])},{yd(-float(p[2]))}" for p in points) + f" {tx(t1)},{yd(0)}"
    base = format_html('<line x1="{}" x2="{}" y1="{}" y2="{}" class="line-capital"/>', PAD, W - PAD - RIGHT,
                       ye(capital), ye(capital)) if capital is not None else ""
    labels = format_html(
        '<text x="4" y="{}" class="label">{}</text><text x="4" y="{}" class="label">{}</text>'
        '<text x="4" y="{}" class="label">drawdown -{}%</text>'
        '<text x="{}" y="{}" class="label">{}</text><text x="{}" y="{}" class="label">{}</text>',
        PAD - 6, f"{hi:,.2f}", 214, f"{lo:,.2f}", h - 4, f"{worst:.2f}", PAD, 226, _label(t0),
        W - PAD - RIGHT - 110, 226, _label(t1))
    return mark_safe(  # noqa: S308 - numbers and format_html parts only
        f'<svg class="chart equity" viewBox="0 0 {W} {h}" role="img" aria-label="equity curve and drawdown">'
        f'{labels}{base}<polyline points="{line}" class="equity-line"/>'
        f'<polygon points="{area}" class="drawdown-area"/></svg>')


def render_trades_chart(prices: list[list[Any]], trades: list[dict[str, Any]]) -> SafeString:
    """A backtest's sampled price buckets ``(time ms, o, h, l, c)`` over its whole range, drawn by
    ``render_candles`` with the run's fills as markers (at most 400: the first ones)."""
    if not prices:
        return _empty(H, "price with trades")
    step = (prices[1][0] - prices[0][0]) if len(prices) > 1 else 60_000
    candles = [(datetime.fromtimestamp(p[0] / 1000, UTC), *(as_decimal(v) for v in p[1:5])) for p in prices]
    fills = [(datetime.fromisoformat(f["time"]), as_decimal(f["price"]), f["side"]) for f in trades[:400]]
    t0 = candles[0][0]
    return render_candles(candles, fills, [], t0, candles[-1][0] + timedelta(milliseconds=step), len(prices),
                          label="price with trades")
