/* A small SVG candle chart, drawn by hand (no library, nothing from the internet).
 * Candles are built from the bot's live prices; fills are markers; SL/TP/trailing are lines.
 * Prices are kept in sessionStorage per bot so a reload keeps the chart's recent history. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg", W = 800, H = 280, PAD = 28, MAX_TICKS = 3000, SLOTS = 40;

  function el(name, attrs, text) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function CandleChart(container, botId, intervalMs) {
    this.container = container;
    this.key = "portal.ticks." + botId;
    this.interval = intervalMs || 60000;
    this.fills = [];
    this.levels = {};
    this.history = [];  // closed candles from the server's snapshot
    try { this.ticks = JSON.parse(sessionStorage.getItem(this.key) || "[]"); } catch (e) { this.ticks = []; }
    this.pending = false;
  }

  CandleChart.prototype.addPrice = function (price, timeIso) {
    var t = timeIso ? Date.parse(timeIso) : Date.now();
    var p = Number(price);
    if (!isFinite(p)) return;
    this.ticks.push([t, p]);
    if (this.ticks.length > MAX_TICKS) this.ticks.splice(0, this.ticks.length - MAX_TICKS);
    try { sessionStorage.setItem(this.key, JSON.stringify(this.ticks)); } catch (e) { /* full: keep in memory */ }
    this.draw();
  };
  CandleChart.prototype.setHistory = function (candles) {
    this.history = (candles || []).map(function (c) {
      return {t: c.t * 1000, o: Number(c.o), h: Number(c.h), l: Number(c.l), c: Number(c.c)};
    });
    this.draw();
  };
  CandleChart.prototype.setFills = function (fills) { this.fills = fills.slice(-200); this.draw(); };
  CandleChart.prototype.addFill = function (fill) { this.fills.push(fill); this.draw(); };
  CandleChart.prototype.setLevels = function (levels) { this.levels = levels; this.draw(); };

  CandleChart.prototype.candles = function () {
    var out = [], iv = this.interval, cur = null;
    this.ticks.forEach(function (tp) {
      var start = Math.floor(tp[0] / iv) * iv;
      if (!cur || cur.t !== start) { cur = {t: start, o: tp[1], h: tp[1], l: tp[1], c: tp[1]}; out.push(cur); }
      else { cur.h = Math.max(cur.h, tp[1]); cur.l = Math.min(cur.l, tp[1]); cur.c = tp[1]; }
    });
    // The server's closed candles, then the ones built here from live prices (those win a tie).
    var mine = {};
    out.forEach(function (c) { mine[c.t] = true; });
    var merged = this.history.filter(function (c) { return !mine[c.t]; }).concat(out);
    merged.sort(function (a, b) { return a.t - b.t; });
    return merged.slice(-SLOTS);
  };

  CandleChart.prototype.draw = function () {
    var self = this;
    if (this.pending) return;  // one redraw per animation frame, however many updates arrive
    this.pending = true;
    (window.requestAnimationFrame || setTimeout)(function () { self.pending = false; self.render(); });
  };

  CandleChart.prototype.render = function () {
    var candles = this.candles(), levels = this.levels, fills = this.fills;
    var svg = el("svg", {"class": "chart", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "price chart"});
    if (!candles.length) {
      svg.appendChild(el("text", {x: W / 2 - 80, y: H / 2, "class": "muted"}, "Waiting for prices…"));
      this.container.replaceChildren(svg);
      return;
    }
    // A fixed window of SLOTS candles ending at the newest one: new candles appear on the right.
    var t1 = candles[candles.length - 1].t + this.interval, t0 = t1 - SLOTS * this.interval;
    var visibleFills = fills.filter(function (f) { return Date.parse(f.time) >= t0; });
    var prices = [];
    candles.forEach(function (c) { prices.push(c.h, c.l); });
    visibleFills.forEach(function (f) { prices.push(Number(f.price)); });
    var lo = Math.min.apply(null, prices), hi = Math.max.apply(null, prices);
    var span = Math.max(hi - lo, hi * 0.002) || 1;
    // Exit levels near the price widen the scale; far ones are pinned to the edge with an arrow,
    // so a stop 3% away does not flatten the candles into a line.
    Object.keys(levels).forEach(function (k) {
      var v = Number(levels[k]);
      if (levels[k] && v > lo - span && v < hi + span) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    });
    span = (hi - lo) || 1;
    lo -= span * 0.08; hi += span * 0.08;
    var y = function (p) { return PAD + (hi - p) / (hi - lo) * (H - 2 * PAD); };
    var x = function (t) { return PAD + (t - t0) / (t1 - t0) * (W - 2 * PAD - 60); };
    var cw = Math.max(2, (W - 2 * PAD - 60) / SLOTS * 0.7);
    svg.appendChild(el("text", {x: 4, y: PAD, "class": "label"}, String(Number(hi.toPrecision(8)))));
    svg.appendChild(el("text", {x: 4, y: H - 8, "class": "label"}, String(Number(lo.toPrecision(8)))));
    candles.forEach(function (c) {
      var up = c.c >= c.o, cx = x(c.t + 0) + cw / 2;
      svg.appendChild(el("line", {x1: cx, x2: cx, y1: y(c.h), y2: y(c.l), "class": up ? "wick up" : "wick down"}));
      svg.appendChild(el("rect", {x: cx - cw / 2, y: y(Math.max(c.o, c.c)), width: cw,
        height: Math.max(1, Math.abs(y(c.o) - y(c.c))), "class": up ? "candle up" : "candle down"}));
    });
    [["SL", "stop_loss_price", "line-sl"], ["TP", "take_profit_price", "line-tp"],
     ["trail", "trailing_stop_price", "line-trail"]].forEach(function (d) {
      var v = levels[d[1]];
      if (!v) return;
      var n = Number(v), arrow = n > hi ? " ↑" : (n < lo ? " ↓" : "");
      var yy = Math.min(Math.max(y(n), PAD / 2), H - PAD / 2);
      svg.appendChild(el("line", {x1: PAD, x2: W - PAD, y1: yy, y2: yy, "class": d[2]}));
      svg.appendChild(el("text", {x: W - PAD - 150, y: yy + (yy < H / 2 ? 12 : -4), "class": "label"},
        d[0] + " " + PortalLive.fmt(v) + arrow));
    });
    visibleFills.forEach(function (f) {
      var c = el("circle", {cx: x(Date.parse(f.time)), cy: y(Number(f.price)), r: 5, "class": "fill-" + f.side});
      c.appendChild(el("title", {}, f.side + " " + f.quantity + " @ " + f.price));
      svg.appendChild(c);
    });
    var last = candles[candles.length - 1].c;
    svg.appendChild(el("text", {x: W - 58, y: y(last) + 4, "class": "label last"}, String(last)));
    this.container.replaceChildren(svg);
  };

  window.CandleChart = CandleChart;
})();
