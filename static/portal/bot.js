/* Bot page: status, price, position, P&L, the chart, recent orders and the event log, all live. */
(function () {
  "use strict";
  var root = document.getElementById("bot");
  if (!root || !window.PortalLive) return;
  var fmt = PortalLive.fmt, $ = function (id) { return document.getElementById(id); };
  var d = root.dataset, price = function (v) { return PortalLive.fixed(v, d.priceDp); };
  var qty = function (v) { return PortalLive.fixed(v, d.qtyDp); };
  // The buttons each status offers (the server's ACTIONS_BY_STATUS); "close" when stopped and holding.
  var ACTIONS = {stopped: ["start"], starting: ["pause", "stop"], running: ["pause", "stop"],
                 paused: ["resume", "stop"], error: ["start", "stop"]};
  var chart = window.LiveChart ? new LiveChart($("chart"), root.dataset.chartUrl ||
    root.dataset.snapshotUrl.replace("snapshot.json", "chart.svg"), 1000) : null;
  var s = {};
  if (chart) { $("chart-note").textContent = "1 min candles, fills and exit levels"; }

  function text(id, v) { var e = $(id); if (e) e.textContent = v; }
  function showPnl() {
    var pnl = Number(s.realized || 0);
    if (s.qty && s.entry && s.price) pnl += (Number(s.price) - Number(s.entry)) * Number(s.qty);
    var e = $("pnl"); e.textContent = pnl.toFixed(2);
    e.parentNode.className = "value " + PortalLive.pnlClass(pnl);
    if (Number(d.capital)) text("pnl-pct", PortalLive.pct(pnl * 100 / Number(d.capital)));
  }
  function showActions() {
    var holding = Number(s.qty) > 0, stopped = s.status === "stopped" || s.status === "error";
    var allowed = (ACTIONS[s.status] || []).concat(holding && stopped ? ["close"] : []);
    document.querySelectorAll("#actions form[data-action]").forEach(function (f) {
      f.hidden = allowed.indexOf(f.dataset.action) < 0;
    });
    var notice = $("holding-notice");
    if (notice) { notice.hidden = !(holding && stopped); text("holding-qty", qty(s.qty)); }
    var closed = $("closed-notice");  // after "Close position": flat, paused with the closing reason
    if (closed) closed.hidden = !(!holding && s.status === "paused" && /^Closing the position/.test(s.reason || ""));
  }
  function setStatus(status, reason) {
    var e = $("status"); e.textContent = status; e.className = "status status-" + status;
    text("status-reason", reason || "");
    s.status = status; s.reason = reason; showActions();
  }
  function setPosition(p) {
    p = p || {};
    s.qty = p.quantity; s.entry = p.average_entry;
    text("position-qty", PortalLive.position(p.quantity, d.qtyDp));
    text("position-entry", price(p.average_entry));
    text("sl", price(p.stop_loss_price)); text("tp", price(p.take_profit_price)); text("trail", price(p.trailing_stop_price));
    showActions();
    if (chart) chart.refresh();
    showPnl();
  }
  function orderRow(o) {
    var tbody = $("orders").tBodies[0], row = tbody.querySelector('tr[data-order="' + o.client_order_id + '"]');
    var empty = tbody.querySelector(".empty-row"); if (empty) empty.remove();
    if (!row) {
      row = document.createElement("tr"); row.dataset.order = o.client_order_id;
      tbody.insertBefore(row, tbody.firstChild);
      while (tbody.rows.length > 20) tbody.deleteRow(-1);
    }
    var cells = [String(o.time || "").slice(11, 19), o.side, o.order_type, qty(o.quantity),
      price(o.average_price || o.price), o.status, o.purpose];
    row.replaceChildren.apply(row, cells.map(function (v, i) {
      var td = document.createElement("td"); td.textContent = v;
      if (i === 1) td.className = "side-" + v;
      if (i === 3 || i === 4) td.className = "num";
      if (i === 2 || i === 6) td.className = "opt";
      return td;
    }));
  }
  function logLine(e) {
    var ul = $("log"), li = document.createElement("li"), t = document.createElement("time"), b = document.createElement("b");
    var muted = ul.querySelector("li.muted"); if (muted) muted.remove();
    t.textContent = String(e.time || "").slice(11, 19); b.textContent = e.kind;
    li.append(t, " ", b, " " + e.message);
    ul.insertBefore(li, ul.firstChild);
    while (ul.children.length > 100) ul.removeChild(ul.lastChild);
  }

  var reloadTimer = null;
  var live = new PortalLive({
    url: root.dataset.liveUrl, snapshotUrl: root.dataset.snapshotUrl,
    onSnapshot: function (data) {
      var b = data.bot;
      s.realized = b.realized_pnl; s.price = b.last_price;
      setStatus(b.status, b.status_reason);
      text("last-price", price(b.last_price));
      text("realized", Number(b.realized_pnl || 0).toFixed(2));
      setPosition(b.position);
      $("orders").tBodies[0].replaceChildren();
      data.orders.slice().reverse().forEach(orderRow);
      $("log").replaceChildren();
      data.events.slice().reverse().forEach(logLine);
      if (chart) chart.refresh();
    },
    onItem: function (item) {
      switch (item.type) {
        case "bot.price":
          s.price = item.price; text("last-price", price(item.price)); text("price-time", item.time.slice(11, 19));
          if (chart) chart.refresh();
          showPnl(); break;
        case "bot.status": setStatus(item.status, item.reason); break;
        case "bot.position":
          setPosition(item);
          // Realised P&L is summed over the bot's positions on the server: re-read it once things settle.
          clearTimeout(reloadTimer); reloadTimer = setTimeout(function () { live.loadSnapshot(); }, 1000);
          break;
        case "bot.order": orderRow(item); break;
        case "bot.fill": if (chart) chart.refresh(); logLine({time: item.time, kind: "fill", message: item.side + " " + qty(item.quantity) + " @ " + price(item.price)}); break;
        case "bot.event": logLine(item); break;
      }
    }
  });
})();
