// Zoom, fit and "show the current step" for every read-only diagram (case page, audit replay,
// version diff). Loaded before the page's own script; no inline script, buttons made here.
// Keyboard when the diagram has focus: + and - zoom, 0 fits the whole diagram, c shows the
// current step. Ctrl+wheel (and trackpad pinch) zoom through bpmn-js itself, touch pinch here.
(function () {
  "use strict";
  var MIN = 0.2, MAX = 3;

  function shapes(viewer, ids) {
    var registry = viewer.get("elementRegistry");
    return (ids || []).map(function (id) { return registry.get(id); })
      .filter(function (s) { return s && !s.waypoints && s.width !== undefined; });
  }

  function box(list) {
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    list.forEach(function (s) {
      x1 = Math.min(x1, s.x); y1 = Math.min(y1, s.y);
      x2 = Math.max(x2, s.x + s.width); y2 = Math.max(y2, s.y + s.height);
    });
    return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
  }

  // Frame the elements: centred, with room around them, never zoomed in past 1.2 nor out past 0.4.
  function frame(viewer, ids) {
    var list = shapes(viewer, ids);
    var canvas = viewer.get("canvas");
    if (!list.length) { canvas.zoom("fit-viewport", "auto"); return false; }
    var b = box(list), size = canvas.getSize(), pad = 80;
    var scale = Math.min(size.width / (b.width + 2 * pad), size.height / (b.height + 2 * pad));
    scale = Math.max(0.4, Math.min(1.2, scale));
    var w = size.width / scale, h = size.height / scale;
    canvas.viewbox({ x: b.x + b.width / 2 - w / 2, y: b.y + b.height / 2 - h / 2, width: w, height: h });
    return true;
  }

  // Move the view only when one of the elements is not wholly in sight.
  function reveal(viewer, ids) {
    var list = shapes(viewer, ids);
    if (!list.length) return;
    var vb = viewer.get("canvas").viewbox();
    var out = list.some(function (s) {
      return s.x < vb.x || s.y < vb.y || s.x + s.width > vb.x + vb.width || s.y + s.height > vb.y + vb.height;
    });
    if (out) frame(viewer, ids);
  }

  function button(label, text, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "secondary small";
    b.setAttribute("aria-label", label);
    b.title = label;
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  // Add the toolbar under the diagram; `current()` names the elements "show current step" frames.
  function attach(viewer, el, current) {
    var canvas = viewer.get("canvas");
    function zoomBy(factor) {
      var z = Math.max(MIN, Math.min(MAX, canvas.zoom() * factor));
      canvas.zoom(z, "auto");
    }
    var bar = document.createElement("div");
    bar.className = "diagram-tools";
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", "Diagram view");
    bar.appendChild(button("Zoom in", "+", function () { zoomBy(1.25); }));
    bar.appendChild(button("Zoom out", "−", function () { zoomBy(0.8); }));
    bar.appendChild(button("Fit the whole diagram", "Fit", function () { canvas.zoom("fit-viewport", "auto"); }));
    bar.appendChild(button("Show the current step", "Current step", function () { frame(viewer, current()); }));
    el.parentNode.insertBefore(bar, el.nextSibling);
    pinch(viewer, el);
    el.setAttribute("tabindex", "0");
    el.addEventListener("keydown", function (ev) {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var actions = {
        "+": function () { zoomBy(1.25); }, "=": function () { zoomBy(1.25); },
        "-": function () { zoomBy(0.8); }, "0": function () { canvas.zoom("fit-viewport", "auto"); },
        c: function () { frame(viewer, current()); },
      };
      if (actions[ev.key]) { actions[ev.key](); ev.preventDefault(); }
    });
    return bar;
  }

  // Two-finger pinch on a touch screen zooms around the middle of the fingers (bpmn-js itself
  // handles Ctrl+wheel and trackpad pinch, not touch).
  function pinch(viewer, el) {
    var canvas = viewer.get("canvas"), start = null;
    function spread(t) { return Math.hypot(t[0].clientX - t[1].clientX, t[0].clientY - t[1].clientY); }
    el.addEventListener("touchstart", function (ev) {
      if (ev.touches.length === 2) start = { d: spread(ev.touches), z: canvas.zoom() };
    }, { passive: true });
    el.addEventListener("touchmove", function (ev) {
      if (!start || ev.touches.length !== 2) return;
      ev.preventDefault();
      var r = el.getBoundingClientRect();
      var mid = { x: (ev.touches[0].clientX + ev.touches[1].clientX) / 2 - r.left,
                  y: (ev.touches[0].clientY + ev.touches[1].clientY) / 2 - r.top };
      canvas.zoom(Math.max(MIN, Math.min(MAX, start.z * spread(ev.touches) / start.d)), mid);
    }, { passive: false });
    el.addEventListener("touchend", function (ev) { if (ev.touches.length < 2) start = null; });
  }

  // Badges under each element, as Camunda Operate shows them: how often it was done (green),
  // how many of it are open now (blue), how many incidents it had (red). Replaces earlier ones.
  var KINDS = [["done", "done"], ["active", "open"], ["incidents", "incident(s)"]];
  function counts(viewer, byElement) {
    var overlays = viewer.get("overlays"), registry = viewer.get("elementRegistry");
    overlays.remove({ type: "pf-counts" });
    Object.keys(byElement || {}).forEach(function (id) {
      var shape = registry.get(id);
      if (!shape || shape.waypoints) return;
      var box = document.createElement("div");
      box.className = "pf-counts";
      KINDS.forEach(function (k) {
        var n = byElement[id][k[0]];
        if (!n) return;
        var b = document.createElement("span");
        b.className = "pf-count pf-count-" + k[0];
        b.textContent = String(n);
        b.title = n + " " + k[1];
        b.setAttribute("data-kind", k[0]);
        box.appendChild(b);
      });
      if (box.childNodes.length) {
        box.setAttribute("data-element-id", id);
        overlays.add(id, "pf-counts", { position: { bottom: 10, left: -8 }, html: box });
      }
    });
  }

  window.PathfinderDiagram = { attach: attach, frame: frame, reveal: reveal, counts: counts };
})();
