// Progressive enhancement for repeatable rows: "Add another" copies a blank row in place
// instead of a round trip. Without JavaScript the button posts and the server adds the row.
(function () {
  "use strict";
  function renumber(row, group, index) {
    var from = new RegExp("^" + group.replace(/\./g, "\\.") + "\\.\\d+\\.");
    var to = group + "." + index + ".";
    var idFrom = new RegExp("^f-" + group.replace(/\./g, "-") + "-\\d+-");
    var idTo = "f-" + group.replace(/\./g, "-") + "-" + index + "-";
    row.querySelectorAll("[name],[id],[for],[aria-describedby]").forEach(function (el) {
      if (el.name && from.test(el.name)) el.name = el.name.replace(from, to);
      ["id", "for"].forEach(function (attr) {
        var v = el.getAttribute(attr);
        if (v && idFrom.test(v)) el.setAttribute(attr, v.replace(idFrom, idTo));
      });
      var d = el.getAttribute("aria-describedby");
      if (d) el.setAttribute("aria-describedby", d.split(" ").map(function (x) { return x.replace(idFrom, idTo); }).join(" "));
    });
  }
  function clear(row) {
    row.querySelectorAll("input, textarea, select").forEach(function (el) {
      if (el.type === "checkbox" || el.type === "radio") el.checked = false;
      else if (el.tagName === "SELECT") el.selectedIndex = 0;
      else el.value = "";
      el.removeAttribute("aria-invalid");
    });
    row.querySelectorAll(".error-message").forEach(function (el) { el.remove(); });
    row.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }
  document.querySelectorAll("fieldset[data-rows]").forEach(function (group) {
    var name = group.getAttribute("data-rows");
    var add = group.querySelector(":scope > .add-row");
    if (!add) return;
    add.addEventListener("click", function (event) {
      var rows = group.querySelectorAll(":scope > .row");
      if (!rows.length) return; // let the server render the first row
      event.preventDefault();
      var last = rows[rows.length - 1];
      var copy = last.cloneNode(true);
      var index = rows.length;
      copy.setAttribute("data-row", String(index));
      renumber(copy, name, index);
      clear(copy);
      var legend = copy.querySelector("legend");
      if (legend) legend.textContent = legend.textContent.replace(/\d+$/, String(index + 1));
      var remove = copy.querySelector(".remove-row");
      if (remove) {
        remove.value = "remove_row:" + name + "." + index;
        remove.textContent = remove.textContent.replace(/\d+$/, String(index + 1));
      }
      group.insertBefore(copy, add);
      var first = copy.querySelector("input, textarea, select");
      if (first) first.focus();
    });
  });
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
