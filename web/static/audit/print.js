// The report's Print button (kept out of the markup so a strict CSP needs no inline script).
(function () {
  "use strict";
  var button = document.getElementById("print-report");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
