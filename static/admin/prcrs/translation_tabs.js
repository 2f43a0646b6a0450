/* Language tabs for translated fields on the admin change form (no jQuery UI, no CDN).
 *
 * predictor/admin.py puts data-mt-field, data-mt-field-label, data-mt-language and
 * data-mt-language-name on every translation widget. Here the form rows of one field (one row
 * per language) get a tab strip labelled with the languages' own names; the first language
 * shows, unless another one holds a validation error. Without this script every row stays
 * visible with its own label. Every text shown comes from those attributes.
 */
(function () {
  "use strict";

  var groupCount = 0;

  function rowOf(widget) {
    return widget.closest(".form-row");
  }

  function hasError(row) {
    return row.classList.contains("errors") || row.querySelector(".errorlist, .errors") !== null;
  }

  // Rows of each translated field, in page order: [{key, label, items: [{row, widget}]}].
  function collectGroups(form) {
    var groups = [];
    var byKey = {};
    form.querySelectorAll("[data-mt-language][data-mt-field]").forEach(function (widget) {
      var row = rowOf(widget);
      if (!row || row.hasAttribute("data-mt-tab-row")) {
        return;
      }
      var language = widget.getAttribute("data-mt-language");
      var suffix = "_" + language.replace(/-/g, "_");
      var name = widget.getAttribute("name") || "";
      // The form prefix (for inlines) and the field name, without the language.
      var key = name.slice(-suffix.length) === suffix
        ? name.slice(0, -suffix.length) : widget.getAttribute("data-mt-field");
      if (!byKey[key]) {
        byKey[key] = {key: key, label: widget.getAttribute("data-mt-field-label") || "",
                      items: []};
        groups.push(byKey[key]);
      }
      row.setAttribute("data-mt-tab-row", "");
      byKey[key].items.push({row: row, widget: widget, language: language,
                             name: widget.getAttribute("data-mt-language-name") || language});
    });
    return groups.filter(function (group) { return group.items.length > 1; });
  }

  function select(tabs, index, focus) {
    tabs.forEach(function (tab, i) {
      var chosen = i === index;
      tab.setAttribute("aria-selected", chosen ? "true" : "false");
      tab.tabIndex = chosen ? 0 : -1;
      tab.classList.toggle("selected", chosen);
      var panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (chosen) {
        panel.removeAttribute("hidden");
      } else {
        panel.setAttribute("hidden", "");
      }
    });
    if (focus) {
      tabs[index].focus();
    }
  }

  function build(group) {
    groupCount += 1;
    var base = "mt-tabs-" + groupCount;
    var strip = document.createElement("div");
    strip.className = "mt-tab-strip";
    strip.setAttribute("role", "tablist");
    if (group.label) {
      strip.setAttribute("aria-label", group.label);
    }
    var tabs = group.items.map(function (item, i) {
      var tab = document.createElement("button");
      tab.type = "button";
      tab.className = "mt-tab";
      tab.id = base + "-tab-" + i;
      tab.setAttribute("role", "tab");
      tab.setAttribute("lang", item.language);
      tab.setAttribute("data-mt-language", item.language);
      tab.textContent = item.name;
      if (!item.row.id) {
        item.row.id = base + "-panel-" + i;
      }
      tab.setAttribute("aria-controls", item.row.id);
      item.row.setAttribute("role", "tabpanel");
      item.row.setAttribute("aria-labelledby", tab.id);
      item.row.classList.add("mt-tab-panel");
      if (hasError(item.row)) {
        tab.classList.add("has-error");
      }
      strip.appendChild(tab);
      return tab;
    });

    strip.addEventListener("click", function (event) {
      var tab = event.target.closest("[role=tab]");
      if (tab) {
        select(tabs, tabs.indexOf(tab), false);
      }
    });
    strip.addEventListener("keydown", function (event) {
      var current = tabs.indexOf(document.activeElement);
      if (current < 0) {
        return;
      }
      var next = {ArrowRight: current + 1, ArrowLeft: current - 1, Home: 0,
                  End: tabs.length - 1}[event.key];
      if (next === undefined) {
        return;
      }
      event.preventDefault();
      select(tabs, (next + tabs.length) % tabs.length, true);
    });

    var first = group.items[0].row;
    first.parentNode.insertBefore(strip, first);

    var withError = group.items.findIndex(function (item) { return hasError(item.row); });
    select(tabs, withError < 0 ? 0 : withError, false);
    return {tabs: tabs, items: group.items};
  }

  function init() {
    document.querySelectorAll("#content-main form").forEach(function (form) {
      var built = collectGroups(form).map(build);
      if (!built.length) {
        return;
      }
      // The browser cannot point at a required field in a hidden tab: show that tab first.
      form.addEventListener("invalid", function (event) {
        built.forEach(function (set) {
          set.items.forEach(function (item, i) {
            if (item.row.contains(event.target) && item.row.hasAttribute("hidden")) {
              select(set.tabs, i, false);
            }
          });
        });
      }, true);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
