// Draws the instance's diagram with bpmn-js (NavigatedViewer, served from node_modules) and
// marks completed, active and waiting elements with canvas markers styled in app.css.
(function () {
  "use strict";
  var el = document.getElementById("diagram");
  if (!el || typeof window.BpmnJS !== "function") return;
  var states = JSON.parse(el.getAttribute("data-states") || "{}");
  var viewer = new window.BpmnJS({ container: el });
  fetch(el.getAttribute("data-xml"), { credentials: "same-origin" })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var marks = { completed: "pf-completed", waiting: "pf-waiting", active: "pf-active" };
      Object.keys(marks).forEach(function (state) {
        (states[state] || []).forEach(function (id) {
          if (registry.get(id)) canvas.addMarker(id, marks[state]);
        });
      });
      var focus = (states.active || []).concat(states.waiting || []);
      var tools = window.PathfinderDiagram;
      if (tools) {
        tools.attach(viewer, el, function () { return focus; });
        tools.counts(viewer, states.counts);
        tools.frame(viewer, focus);  // opens on what is open or waiting, or the whole diagram
      } else {
        canvas.zoom("fit-viewport");
      }
      el.setAttribute("data-ready", "1");
    })
    .catch(function (err) {
      el.setAttribute("data-error", String(err));
      el.textContent = "The diagram could not be shown: " + err;
    });
})();
