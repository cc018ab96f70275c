/* The bot's price chart, live. The server draws it (bots/chart.py, the one renderer: the page works
 * without this file); while prices, fills and levels arrive, this re-requests the drawing at most once
 * per interval and swaps it in. No dependencies. */
(function () {
  "use strict";

  function LiveChart(container, url, intervalMs) {
    this.container = container;
    this.url = url;
    this.interval = intervalMs || 1000;
    this.last = 0;
    this.timer = null;  // a request is scheduled or in flight: later updates ride on it
    this.again = false;
  }

  LiveChart.prototype.refresh = function () {
    if (this.timer) { this.again = true; return; }
    var self = this, wait = Math.max(0, this.last + this.interval - Date.now());
    this.timer = setTimeout(function () { self.load(); }, wait);
  };

  LiveChart.prototype.load = function () {
    var self = this;
    this.last = Date.now();
    this.again = false;
    fetch(this.url, {credentials: "same-origin", headers: {Accept: "image/svg+xml"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (svg) { if (svg) self.container.innerHTML = svg; })
      .catch(function () { /* offline: the next update or reconnect redraws */ })
      .then(function () {
        self.timer = null;
        if (self.again) self.refresh();
      });
  };

  window.LiveChart = LiveChart;
})();
