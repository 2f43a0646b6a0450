// The optional printout label (bed, initials): copied from a field that belongs to no form into
// the print-only header, so it is printed but never sent to the server, stored or logged.
(function () {
  "use strict";
  var input = document.getElementById("print-label");
  if (input) {
    var show = function () {
      var text = input.value.trim();
      document.querySelectorAll(".print-label-line").forEach(function (line) {
        line.hidden = !text;
        var slot = line.querySelector(".print-label-value");
        if (slot) { slot.textContent = text; }
      });
    };
    input.addEventListener("input", show);
    show();
  }
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
