/* Bot and backtest forms: show only the chosen strategy's parameters, and (bot form) the live-only
 * fields in live mode. Without JavaScript every fieldset shows and the server uses the chosen
 * strategy's values. */
(function () {
  "use strict";
  document.querySelectorAll("#bot-form, form[data-strategy-form]").forEach(function (form) {
  var strategy = form.querySelector('[name="strategy"]');
  function showParams() {
    form.querySelectorAll("fieldset.params").forEach(function (fs) {
      fs.hidden = fs.dataset.strategy !== strategy.value;
    });
  }
  function showLive() {
    var live = form.querySelector('[name="mode"]:checked');
    var box = form.querySelector(".live-only");
    if (box) box.hidden = !(live && live.value === "live");
  }
  strategy.addEventListener("change", showParams);
  form.querySelectorAll('[name="mode"]').forEach(function (r) { r.addEventListener("change", showLive); });
  showParams(); showLive();
  });
})();
