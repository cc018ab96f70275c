/* Orders page (its newest page): new orders appear at the top and known ones update their status,
 * fills and average price as the engine reports them. Filters apply to pushed orders too. */
(function () {
  "use strict";
  var table = document.getElementById("order-table");
  if (!table || !table.dataset.liveUrl || !window.PortalLive) return;
  var bots = {};
  try {
    JSON.parse(document.getElementById("order-bots").textContent).forEach(function (b) { bots[b.id] = b; });
  } catch (e) { return; }
  var want = {bot: table.dataset.bot, status: table.dataset.status, side: table.dataset.side};
  var tbody = table.tBodies[0], fixed = PortalLive.fixed;
  var MAX_ROWS = 50;

  function cell(text, cls) {
    var td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td;
  }
  function label(status) {  // "partially_filled" -> "Partially filled", as the server's labels read
    var s = String(status || "").replace(/_/g, " ");
    return s.charAt(0).toUpperCase() + s.slice(1);
  }
  function matches(o) {
    return (!want.bot || String(o.bot_id) === want.bot) && (!want.status || o.status === want.status) &&
      (!want.side || o.side === want.side);
  }
  function upsert(o) {
    var bot = bots[o.bot_id];
    if (!bot) return;
    var row = tbody.querySelector('tr[data-order="' + CSS.escape(o.client_order_id) + '"]');
    if (!matches(o)) { if (row) row.remove(); return; }
    if (!row) {
      row = document.createElement("tr"); row.dataset.order = o.client_order_id;
      var empty = tbody.querySelector(".empty-row"); if (empty) empty.remove();
      tbody.insertBefore(row, tbody.firstChild);
      while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(-1);
    }
    var link = document.createElement("a"); link.href = "/bots/" + o.bot_id + "/"; link.textContent = bot.name;
    var name = document.createElement("td"); name.className = "wrap"; name.appendChild(link);
    var stamp = String(o.time || ""), when = document.createElement("td"), day = document.createElement("span");
    day.className = "wide"; day.textContent = stamp.slice(0, 10) + " ";
    when.append(day, stamp.slice(11, 19));
    row.replaceChildren(when, name, cell(bot.market, "opt wrap"), cell(o.side, "side-" + o.side),
      cell(o.order_type, "opt"), cell(fixed(o.quantity, bot.qty_dp), "num"), cell(fixed(o.price, bot.price_dp), "num opt"),
      cell(fixed(o.filled_quantity, bot.qty_dp), "num wide"), cell(fixed(o.average_price, bot.price_dp), "num wide"),
      cell(label(o.status)), cell(o.purpose, "opt"), cell(o.client_order_id, "mono small opt"));
    row.children[9].dataset.field = "status";
  }

  new PortalLive({
    url: table.dataset.liveUrl,
    onItem: function (item) { if (item.type === "bot.order") upsert(item); }
  });
})();
