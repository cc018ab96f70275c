/* Backtest pages, live: a run's progress bar (the page reloads itself with the results when it ends),
 * a history download's progress, and a sweep's table filled in as results arrive, sortable by click.
 * Without JavaScript the pages work by reloading; sorting then goes through ?sort=. */
(function () {
  "use strict";
  if (!window.PortalLive) return;

  function metric(v) {
    if (v === null || v === undefined || v === "") return "—";
    var n = Number(v);
    if (!isFinite(n)) return String(v);
    return Number.isInteger(n) ? n.toLocaleString("en-US") : n.toLocaleString("en-US", {maximumFractionDigits: 4});
  }

  var run = document.getElementById("backtest");
  if (run && (run.dataset.status === "pending" || run.dataset.status === "running")) {
    var id = Number(run.dataset.run), bar = document.getElementById("progress"), text = document.getElementById("progress-text");
    var show = function (s) {
      if (s.status === "done" || s.status === "failed") { location.reload(); return; }
      bar.value = s.progress; text.textContent = s.status + " " + Math.round(s.progress * 100) + "%";
    };
    new PortalLive({url: "/ws/live/", snapshotUrl: run.dataset.snapshotUrl, onSnapshot: show,
      onItem: function (item) { if (item.type === "bot.backtest" && item.run_id === id) show(item); }});
  }

  var sweep = document.getElementById("sweep");
  if (sweep) {
    var sweepId = Number(sweep.dataset.sweep), table = document.getElementById("sweep-table");
    var keys = Array.prototype.map.call(table.querySelectorAll("th a[data-sort]"), function (a) { return a.dataset.sort; });
    var setRow = function (r) {
      var tr = table.querySelector('tr[data-run="' + r.id + '"]');
      if (!tr) return;
      keys.forEach(function (k) {
        var td = tr.querySelector('td[data-key="' + k + '"]');
        var v = r[k] === undefined ? (k === "oos_return_pct" ? (r.oos_summary || {}).return_pct : (r.summary || {})[k]) : r[k];
        td.dataset.value = v === null || v === undefined ? "" : v;
        td.textContent = metric(v);
      });
      tr.lastElementChild.textContent = r.status;
    };
    var count = function () {
      var done = 0;
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        var s = tr.lastElementChild.textContent; if (s === "done" || s === "failed") done++;
      });
      document.getElementById("sweep-done").textContent = done;
    };
    new PortalLive({url: "/ws/live/", snapshotUrl: sweep.dataset.snapshotUrl,
      onSnapshot: function (data) {
        data.rows.forEach(setRow); count(); document.getElementById("sweep-status").textContent = data.status;
      },
      onItem: function (item) {
        if (item.type === "bot.backtest" && item.sweep_id === sweepId) { setRow({id: item.run_id, status: item.status,
          summary: item.summary, oos_summary: item.oos_summary}); count(); }
        if (item.type === "bot.sweep" && item.sweep_id === sweepId) document.getElementById("sweep-status").textContent = item.status;
      }});
    table.querySelectorAll("th a[data-sort]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var key = a.dataset.sort, desc = a.dataset.dir !== "desc";
        a.dataset.dir = desc ? "desc" : "asc";
        // The arrow moves to the clicked column (the server's ?sort= link keeps working without JS).
        table.querySelectorAll("th a[data-sort]").forEach(function (other) {
          other.textContent = other.textContent.replace(/ [\u2191\u2193]$/, "");
        });
        a.textContent += desc ? " \u2193" : " \u2191";
        var rows = Array.prototype.slice.call(table.tBodies[0].rows);
        var val = function (tr) { var v = tr.querySelector('td[data-key="' + key + '"]').dataset.value; return v === "" ? null : Number(v); };
        rows.sort(function (x, y) {
          var a1 = val(x), b1 = val(y);
          if (a1 === null) return 1; if (b1 === null) return -1;
          return desc ? b1 - a1 : a1 - b1;
        });
        rows.forEach(function (tr) { table.tBodies[0].appendChild(tr); });
      });
    });
  }

  var history = document.getElementById("history");
  if (history) {
    // A download that ends (done or failed) reloads the page with its candles listed.
    var showDownload = function (item, reloadUnknown) {
      var row = history.querySelector('tr[data-download="' + item.download_id + '"]');
      if (!row) { if (reloadUnknown) location.reload(); return; }
      var status = row.querySelector("[data-field=status]"), was = status.textContent;
      row.querySelector("progress").value = item.progress;
      status.textContent = item.status;
      if (was !== item.status && (item.status === "done" || item.status === "failed")) location.reload();
    };
    new PortalLive({url: "/ws/market/", snapshotUrl: history.dataset.snapshotUrl,
      onSnapshot: function (data) { data.downloads.forEach(function (d) { showDownload(d, false); }); },
      onItem: function (item) { if (item.type === "history.progress") showDownload(item, true); }});
  }
})();
