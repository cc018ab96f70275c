/* Dashboard: keep each bot's row (status, position, last price, P&L) current. */
(function () {
  "use strict";
  var table = document.getElementById("bots");
  if (!table || !window.PortalLive) return;
  var fixed = PortalLive.fixed, state = {};

  function cell(id, field) {
    var row = table.querySelector('tr[data-bot="' + id + '"]');
    return row ? row.querySelector('[data-field="' + field + '"]') : null;
  }
  function set(id, field, text) { var c = cell(id, field); if (c) c.textContent = text; }
  function market(id) {  // the row's market precision and quote currency
    var row = table.querySelector('tr[data-bot="' + id + '"]');
    return row ? row.dataset : {};
  }
  function showPnl(id) {
    var s = state[id], m = market(id); if (!s) return;
    var pnl = Number(s.realized || 0);
    if (s.qty && s.entry && s.price) pnl += (Number(s.price) - Number(s.entry)) * Number(s.qty);
    var c = cell(id, "pnl");
    if (!c) return;
    var pct = Number(m.capital) ? PortalLive.pct(pnl * 100 / Number(m.capital)) : "";
    var small = document.createElement("span"); small.className = "small pct"; small.textContent = pct;
    c.replaceChildren(pnl.toFixed(2) + " " + (m.quote || "") + " ", small);
    c.className = "num " + PortalLive.pnlClass(pnl);
  }
  function setStatus(id, status, reason) {
    var c = cell(id, "status"); if (!c) return;
    c.textContent = status; c.className = "status status-" + status; c.title = reason || "";
  }

  new PortalLive({
    url: table.dataset.liveUrl, snapshotUrl: table.dataset.snapshotUrl,
    onSnapshot: function (data) {
      data.bots.forEach(function (b) {
        var p = b.position || {};
        state[b.id] = {realized: b.realized_pnl, qty: p.quantity, entry: p.average_entry, price: b.last_price};
        setStatus(b.id, b.status, b.status_reason);
        set(b.id, "position", PortalLive.position(p.quantity, b.qty_dp));
        set(b.id, "last_price", fixed(b.last_price, b.price_dp));
        showPnl(b.id);
      });
    },
    onItem: function (item) {
      var id = item.bot_id, s = state[id] = state[id] || {};
      if (item.type === "bot.price") {
        s.price = item.price; set(id, "last_price", fixed(item.price, market(id).priceDp)); showPnl(id);
      }
      else if (item.type === "bot.status") { setStatus(id, item.status, item.reason); }
      else if (item.type === "bot.position") {
        // The row's P&L is the bot's, over all its positions: the pushed total, never this position's own.
        s.qty = item.quantity; s.entry = item.average_entry;
        if (item.realized_total != null) s.realized = item.realized_total;
        set(id, "position", PortalLive.position(item.quantity, market(id).qtyDp)); showPnl(id);
      }
    }
  });
})();
