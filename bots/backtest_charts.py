"""A backtest's charts, drawn on the server as SVG (the pages work without JavaScript): the equity
curve with its drawdown below it, and the price over the whole range with the trades on it.

Same drawing vocabulary and CSS classes as the bot page's price chart (``svg.chart``, ``candle up``,
``wick down``, ``fill-buy``); the time axis spans the run's range instead of a live window. The
curves come sampled from ``bots.backtest`` (at most about 2,000 points); floats are pixels only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

W, PAD, RIGHT = 800, 24, 70


def _empty(h: int, label: str) -> SafeString:
    return format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><text x="{}" y="{}" '
                       'class="muted">No data</text></svg>', W, h, label, W // 2 - 30, h // 2)


def _scale(lo: float, hi: float, top: float, bottom: float):  # noqa: ANN202 - a pixel mapper
    span = (hi - lo) or 1.0
    return lambda v: round(top + (hi - v) / span * (bottom - top), 1)


def _label(ms: int) -> str:
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


def render_trades_chart(prices: Sequence[Sequence[Any]], trades: Sequence[dict[str, Any]]) -> SafeString:
    """Price buckets ``(time ms, o, h, l, c)`` over the run's range with its fills as buy/sell markers
    (at most 400 markers: the first ones, with a note when there were more)."""
    h = 280
    if not prices:
        return _empty(h, "price chart")
    t0 = prices[0][0]
    step = (prices[1][0] - t0) if len(prices) > 1 else 60_000
    t1 = prices[-1][0] + step
    lo = min(float(p[3]) for p in prices)
    hi = max(float(p[2]) for p in prices)
    pad = (hi - lo) * 0.05 or 1.0
    y = _scale(lo - pad, hi + pad, PAD, h - PAD)

    def tx(t: float) -> float:
        return round(PAD + (t - t0) / ((t1 - t0) or 1) * (W - 2 * PAD - RIGHT), 1)

    cw = max(1.0, (W - 2 * PAD - RIGHT) / max(1, len(prices)) * 0.7)
    bars = format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="wick {}"/>'
                                '<rect x="{}" y="{}" width="{}" height="{}" class="candle {}"/>',
                            ((tx(t) + cw / 2, tx(t) + cw / 2, y(float(hh)), y(float(ll)), "up" if c >= o else "down",
                              tx(t), y(max(float(o), float(c))), round(cw, 1),
                              max(1.0, abs(y(float(o)) - y(float(c)))), "up" if c >= o else "down")
                             for t, o, hh, ll, c in prices))
    shown = trades[:400]
    marks = format_html_join("", '<circle cx="{}" cy="{}" r="4" class="fill-{}"><title>{} {} @ {} ({})</title>'
                                 '</circle>',
                             ((tx(datetime.fromisoformat(f["time"]).timestamp() * 1000), y(float(f["price"])),
                               f["side"], f["side"], f["quantity"], f["price"], f["purpose"]) for f in shown))
    note = format_html('<text x="{}" y="{}" class="label">first {} of {} fills shown</text>', W - 260, h - 6,
                       len(shown), len(trades)) if len(trades) > len(shown) else ""
    axis = format_html('<text x="4" y="{}" class="label">{}</text><text x="4" y="{}" class="label">{}</text>',
                       PAD, f"{hi:,.2f}", h - 6, f"{lo:,.2f}")
    return mark_safe(  # noqa: S308 - numbers and format_html parts only
        f'<svg class="chart" viewBox="0 0 {W} {h}" role="img" aria-label="price with trades">'
        f"{axis}{bars}{marks}{note}</svg>")
