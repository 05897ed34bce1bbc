// Version diff page: draws both versions with bpmn-js (viewer from node_modules) and colours
// the added, changed and removed elements with canvas markers (styles in diff.css).
(function () {
  "use strict";
  if (typeof window.BpmnJS !== "function") return;
  document.querySelectorAll(".diff-diagrams .diagram").forEach(function (el) {
    var marks = JSON.parse(el.getAttribute("data-marks") || "{}");
    var viewer = new window.BpmnJS({ container: el });
    fetch(el.getAttribute("data-xml"), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        Object.keys(marks).forEach(function (cls) {
          marks[cls].forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, cls); });
        });
        canvas.zoom("fit-viewport");
        el.setAttribute("data-ready", "1");
      })
      .catch(function (err) { el.setAttribute("data-error", String(err)); el.textContent = "The diagram could not be shown: " + err; });
  });
})();
