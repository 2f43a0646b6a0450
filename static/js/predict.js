// Progressive enhancement of the prediction form: live counts of entered values per panel, the
// panel combination the entered values would use, and the units shown next to the fields when
// the unit switch changes. The page works without this script (the server labels the units).
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
    var grade = form.querySelector("[name=crs_grade]");
    var day = form.querySelector("[name=day]");

    // Grade and day given, no lab value at all: the no-lab reference answers alone.
    function contextOnly() {
      if (!grade || !day || !status.getAttribute("data-reference")) {
        return false;
      }
      var labs = form.querySelectorAll("input[data-panel]");
      return grade.value !== "" && filled(day) && !Array.prototype.some.call(labs, filled);
    }

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
      } else if (contextOnly()) {
        status.textContent = status.getAttribute("data-reference");
        status.classList.add("is-ready");
      } else if (grade && day && grade.value !== "" && filled(day) &&
                 status.getAttribute("data-loose")) {
        // Loose labs with grade and day never block an answer (issue 16): the reference answers.
        status.textContent = status.getAttribute("data-loose");
        status.classList.add("is-ready");
      } else {
        status.textContent = status.getAttribute("data-none");
        status.classList.remove("is-ready");
      }
      status.hidden = false;
    }

    // The unit switch: show each factor that has a US conventional unit in the chosen one,
    // with its typical range; the server converts what is submitted.
    function relabelUnits() {
      var chosen = form.querySelector("input[name=units]:checked");
      var system = chosen && chosen.value === "us" ? "us" : "si";
      form.querySelectorAll(".field-unit[data-unit-us]").forEach(function (unit) {
        unit.textContent = unit.getAttribute("data-unit-" + system);
      });
      form.querySelectorAll(".field-typical[data-typical-us]").forEach(function (line) {
        line.textContent = fillTemplate(line.getAttribute("data-template"),
                                        {range: line.getAttribute("data-typical-" + system)});
      });
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);  // a select's choice, in every browser
    form.addEventListener("change", function (event) {
      if (event.target.name === "units") {
        relabelUnits();
      }
    });
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
