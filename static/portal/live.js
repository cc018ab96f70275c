/* Live updates for portal pages: a WebSocket that reconnects by itself, shows when it is offline,
 * reloads the page's HTTP snapshot on every (re)connect and applies pushed batches on top.
 * Pages work without this file; it only keeps them current. No dependencies. */
(function () {
  "use strict";
  var badge = function () { return document.getElementById("live-status"); };

  function setState(state, text) {
    var el = badge();
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function PortalLive(opts) {
    this.url = opts.url;
    this.snapshotUrl = opts.snapshotUrl;
    this.onSnapshot = opts.onSnapshot || function () {};
    this.onItem = opts.onItem || function () {};
    this.unbatched = !!opts.unbatched;
    this.backoff = 500;
    this.queue = null;   // pushes that arrive while the snapshot loads are applied after it
    this.stopped = false;
    PortalLive.instances.push(this);  // for the browser tests and the console
    this.connect();
    var self = this;
    setInterval(function () { self.heartbeat(); }, 15000);
  }

  PortalLive.prototype.connect = function () {
    var self = this;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws;
    try { ws = new WebSocket(scheme + location.host + this.url); } catch (e) { return this.retry(); }
    this.ws = ws;
    this.lastSeen = Date.now();
    setState("connecting", "connecting…");
    ws.onopen = function () {
      self.backoff = 500;
      setState("live", "live");
      self.queue = [];
      self.loadSnapshot();
    };
    ws.onmessage = function (ev) {
      self.lastSeen = Date.now();
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type !== "batch") {
        if (!self.unbatched) return;
        msg = {type: "batch", items: [msg]};  // a socket that pushes one item per frame (market prices)
      }
      if (self.queue) { Array.prototype.push.apply(self.queue, msg.items); return; }
      msg.items.forEach(function (item) { self.apply(item); });
    };
    ws.onclose = function (ev) {
      if (ev.code === 4401) { location.href = "/accounts/login/?next=" + encodeURIComponent(location.pathname); return; }
      if (ev.code === 4404 || ev.code === 4503) { self.stopped = true; return; }  // gone, or no fan-out: no retry
      setState("offline", "offline — reconnecting");
      self.retry();
    };
  };

  PortalLive.prototype.apply = function (item) {
    try { this.onItem(item); } catch (e) { if (window.console) console.error(e); }
  };

  PortalLive.prototype.loadSnapshot = function () {
    var self = this;
    if (!this.snapshotUrl) { this.flushQueue(); return; }
    fetch(this.snapshotUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (data) { self.onSnapshot(data); self.flushQueue(); })
      .catch(function () { self.flushQueue(); });
  };

  PortalLive.prototype.flushQueue = function () {
    var items = this.queue || [];
    this.queue = null;
    var self = this;
    items.forEach(function (item) { self.apply(item); });
  };

  PortalLive.prototype.retry = function () {
    if (this.stopped) return;
    var self = this;
    var delay = Math.min(this.backoff, 10000) * (0.8 + Math.random() * 0.4);
    this.backoff = Math.min(this.backoff * 2, 10000);
    setTimeout(function () { self.connect(); }, delay);
  };

  PortalLive.prototype.heartbeat = function () {
    var ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    if (Date.now() - this.lastSeen > 45000) { ws.close(); return; }  // a silent socket is a dead one
    ws.send(JSON.stringify({type: "ping"}));
  };

  PortalLive.instances = [];

  /* Helpers shared by the page scripts. */
  PortalLive.fmt = function (v) {
    if (v === null || v === undefined || v === "") return "—";
    var s = String(v);
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s;
  };
  /* An amount at a market's precision (decimal places from its tick or step), as the server shows it. */
  PortalLive.fixed = function (v, dp) {
    if (v === null || v === undefined || v === "") return "—";
    var n = Number(v);
    if (!isFinite(n)) return "—";
    dp = Number(dp);
    return (dp >= 0 && dp <= 20) ? n.toFixed(dp) : PortalLive.fmt(v);
  };
  /* A position's quantity: "—" when flat (no position), as the server renders it. */
  PortalLive.position = function (q, dp) { return Number(q) ? PortalLive.fixed(q, dp) : "—"; };
  PortalLive.pct = function (v) {
    if (v === null || v === undefined || v === "" || !isFinite(Number(v))) return "";
    var text = Number(v).toFixed(2);
    if (text === "-0.00") text = "0.00";  // a loss too small to show is not "-0.00%"
    return (Number(text) > 0 ? "+" : "") + text + "%";
  };
  PortalLive.pnlClass = function (v) {
    var n = Number(v);
    return !v || n === 0 ? "zero" : (n > 0 ? "pos" : "neg");
  };
  window.PortalLive = PortalLive;
})();
