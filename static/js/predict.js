// Progressive enhancement of the prediction form: live counts of entered values per panel and
// the panel combination the entered values would use. The page works without this script.
// Texts come from data attributes the server renders in the page language.
(function () {
  "use strict";

  function filled(input) {
    return input.value.trim() !== "";
  }

  function fillTemplate(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : match;
    });
  }

  function init() {
    var form = document.querySelector("form.prediction-form");
    if (!form) {
      return;
    }
    var panels = Array.prototype.slice.call(form.querySelectorAll("details.panel"));
    var combinations = Array.prototype.slice.call(form.querySelectorAll(".combination-order li"));
    var status = form.querySelector(".combination-status");

    function update() {
      // Panel number -> "complete", "imputable" (a few missing, medians may fill them) or "".
      var state = {};
      panels.forEach(function (panel) {
        var inputs = panel.querySelectorAll("input[data-panel]");
        var count = Array.prototype.filter.call(inputs, filled).length;
        var missing = inputs.length - count;
        var imputable = parseInt(panel.getAttribute("data-imputable"), 10) || 0;
        state[panel.getAttribute("data-panel")] =
          missing === 0 ? "complete" : (count > 0 && missing <= imputable ? "imputable" : "");
        var badge = panel.querySelector(".panel-count");
        badge.textContent = fillTemplate(badge.getAttribute("data-template"),
                                         {filled: count, total: inputs.length});
        badge.classList.toggle("is-complete", missing === 0);
      });

      var chosen = null;
      var usesImputation = false;
      combinations.forEach(function (item) {
        item.classList.remove("is-chosen");
        if (chosen) {
          return;
        }
        var needed = item.getAttribute("data-panels").split(" ");
        var usable = needed.every(function (number) { return state[number]; });
        if (usable) {
          chosen = item;
          usesImputation = needed.some(function (number) { return state[number] === "imputable"; });
        }
      });

      if (!status) {
        return;
      }
      if (chosen) {
        chosen.classList.add("is-chosen");
        var text = fillTemplate(status.getAttribute("data-would-use"), {
          code: chosen.getAttribute("data-code"),
          name: chosen.querySelector(".combination-name").textContent.trim()
        });
        if (usesImputation) {
          text += " " + status.getAttribute("data-imputed");
        }
        status.textContent = text;
        status.classList.add("is-ready");
      } else {
        status.textContent = status.getAttribute("data-none");
        status.classList.remove("is-ready");
      }
      status.hidden = false;
    }

    form.addEventListener("input", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
