/* Market-data page: per-exchange health rows, pushed about once a second. */
(function () {
  "use strict";
  var table = document.getElementById("feeds");
  if (!table || !window.PortalLive) return;
  function num(v, digits) { return v === null || v === undefined ? "—" : Number(v).toFixed(digits); }
  function apply(exchanges) {
    Object.keys(exchanges).forEach(function (code) {
      var row = table.querySelector('tr[data-exchange="' + code + '"]'), ex = exchanges[code];
      if (!row) return;
      var f = function (name) { return row.querySelector('[data-field="' + name + '"]'); };
      // the same words as the server's first render (templates/marketdata/health.html)
      var status = ex.health && ex.health.status;
      f("health").textContent = status || "no data";
      f("health").className = "health health-" + (status || "unknown");
      var lat = ex.latency_ms || {};
      f("messages_per_s").textContent = num(ex.messages_per_s, 1);
      f("latency_p50").textContent = num(lat.p50, 2);
      f("latency_p99").textContent = num(lat.p99, 2);
      f("reconnects").textContent = ex.reconnects === undefined ? "—" : ex.reconnects;
      f("last_message_age_s").textContent = num(ex.last_message_age_s, 1);
      f("uptime_s").textContent = num(ex.uptime_s, 0);
      f("parse_errors").textContent = ex.parse_errors === undefined ? "—" : ex.parse_errors;
    });
  }
  new PortalLive({
    url: table.dataset.liveUrl, snapshotUrl: table.dataset.snapshotUrl,
    onSnapshot: function (data) { apply(data.exchanges); },
    onItem: function (item) { if (item.type === "feeds.health") apply(item.exchanges); }
  });
})();

/* Market-data page: one market's live prices from the fan-out (/ws/market/<exchange>/<symbol>/). */
(function () {
  "use strict";
  var table = document.getElementById("live-price");
  if (!table || !window.PortalLive) return;
  var select = document.getElementById("price-market");
  if (select) select.addEventListener("change", function () { select.form.submit(); });
  var f = function (name) { return table.querySelector('[data-field="' + name + '"]'); };
  var received = null;
  function age() {
    if (received !== null) f("age").textContent = Math.max(0, (Date.now() - received) / 1000).toFixed(1);
  }
  setInterval(age, 1000);
  new PortalLive({
    url: table.dataset.liveUrl, unbatched: true,
    onItem: function (item) {
      if (item.type !== "market.price" || item.exchange !== table.dataset.exchange ||
          item.symbol !== table.dataset.symbol) return;
      f("bid").textContent = PortalLive.fmt(item.bid);
      f("ask").textContent = PortalLive.fmt(item.ask);
      f("last").textContent = PortalLive.fmt(item.last);
      received = Math.min(Date.now(), item.received_at_ns / 1e6);
      age();
    }
  });
})();
