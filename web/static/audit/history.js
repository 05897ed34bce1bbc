// The history page: diagram replay (bpmn-js NavigatedViewer; highlights fetched per event as
// JSON, no page reload) and "Verify integrity" answered in place.
(function () {
  "use strict";

  // -- Verify integrity -----------------------------------------------------------------------
  var form = document.getElementById("verify-form");
  var result = document.getElementById("verify-result");
  if (form && result && window.fetch) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      result.className = "verdict";
      result.textContent = "Verifying…";
      fetch(form.action, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (v) {
          result.className = "verdict " + (v.intact ? "verdict-intact" : "verdict-broken");
          result.textContent = (v.intact ? "✓ " : "✗ ") + v.message;
          result.setAttribute("data-intact", v.intact ? "1" : "0");
        })
        .catch(function (err) {
          result.className = "verdict verdict-broken";
          result.textContent = "The check could not run: " + err;
        });
    });
  }

  // -- Diagram replay -------------------------------------------------------------------------
  var root = document.getElementById("replay");
  var el = document.getElementById("replay-diagram");
  var slider = document.getElementById("replay-seq");
  var caption = document.getElementById("replay-caption");
  if (!root || !el || !slider || typeof window.BpmnJS !== "function") return;

  var viewer = new window.BpmnJS({ container: el });
  var marks = { completed: "pf-completed", waiting: "pf-waiting", active: "pf-active" };
  var marked = [];
  var version = null;
  var pending = null;
  var wanted = null;

  function xmlUrl(id) { return root.getAttribute("data-xml-url").replace(/\/0\/diagram\.bpmn$/, "/" + id + "/diagram.bpmn"); }

  function load(id) {
    if (String(id) === String(version)) return Promise.resolve();
    return fetch(xmlUrl(id), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () { version = id; marked = []; framed = false; });
  }

  // The first view frames what is open or waiting (as the case page does); each later step moves
  // the view only when the step's element or an open one is out of sight.
  var framed = false;
  var current = [];
  function frame(states, eventElement) {
    current = (states.active || []).concat(states.waiting || []);
    if (eventElement) current = current.concat([eventElement]);
    var tools = window.PathfinderDiagram;
    if (!tools) return;
    if (!toolbar) toolbar = tools.attach(viewer, el, function () { return current; });
    if (!framed) { tools.frame(viewer, current); framed = true; } else tools.reveal(viewer, current);
  }
  var toolbar = null;

  function paint(states, eventElement) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    marked.forEach(function (m) { if (registry.get(m[0])) canvas.removeMarker(m[0], m[1]); });
    marked = [];
    Object.keys(marks).forEach(function (state) {
      (states[state] || []).forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, marks[state]); marked.push([id, marks[state]]); }
      });
      el.setAttribute("data-" + state, (states[state] || []).join(" "));
    });
    if (window.PathfinderDiagram) window.PathfinderDiagram.counts(viewer, states.counts);
    frame(states, eventElement);
  }

  function label(kind) { var s = kind.replace(/_/g, " "); return s.charAt(0).toUpperCase() + s.slice(1); }

  function describe(body) {
    caption.textContent = "";
    var strong = document.createElement("span");
    strong.className = "seq";
    strong.textContent = "After event #" + body.seq + " of " + slider.max;
    caption.appendChild(strong);
    if (body.event) {
      var e = body.event;
      var text = ": " + label(e.kind) + (e.element_name ? " — " + e.element_name : "") +
        " · " + e.at.slice(0, 16).replace("T", " ") + " UTC · by " + (e.actor || "engine");
      caption.appendChild(document.createTextNode(text));
    }
    slider.setAttribute("aria-valuetext", "after event " + body.seq);
    if (!document.getElementById("ev-" + body.seq)) {
      // The event is on another page of the timeline (or filtered out): offer to go there.
      var perPage = Number(root.getAttribute("data-per-page")) || 50;
      var link = document.createElement("a");
      link.href = location.pathname + "?page=" + Math.ceil(body.seq / perPage) + "#ev-" + body.seq;
      link.textContent = "show in the timeline";
      caption.appendChild(document.createTextNode(" · "));
      caption.appendChild(link);
    }
  }

  function follow(seq) {
    var items = document.querySelectorAll("#events > li[data-seq]");
    Array.prototype.forEach.call(items, function (li) {
      var n = Number(li.getAttribute("data-seq"));
      li.classList.toggle("is-after", n > seq);
      li.classList.toggle("is-current", n === seq);
    });
  }

  function show(seq) {
    wanted = seq;
    if (pending) return;  // the newest wish is served when the running request ends
    var requested = seq;
    el.setAttribute("data-loading", "1");
    pending = fetch(root.getAttribute("data-states-url") + "?seq=" + seq,
      { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (body) {
        return load(body.process_version_id || root.getAttribute("data-version")).then(function () {
          paint(body.states || {}, body.event && body.event.element_id);
          describe(body);
          follow(body.seq);
          el.setAttribute("data-seq", String(body.seq));
        });
      })
      .catch(function (err) { caption.textContent = "The replay could not load: " + err; })
      .then(function () {
        pending = null;
        el.removeAttribute("data-loading");
        if (wanted !== requested) show(wanted);
      });
  }

  function go(seq) {
    var n = Math.max(Number(slider.min), Math.min(Number(slider.max), seq));
    slider.value = String(n);
    show(n);
  }

  slider.addEventListener("input", function () { show(Number(slider.value)); });
  document.getElementById("replay-first").addEventListener("click", function () { go(Number(slider.min)); });
  document.getElementById("replay-prev").addEventListener("click", function () { go(Number(slider.value) - 1); });
  document.getElementById("replay-next").addEventListener("click", function () { go(Number(slider.value) + 1); });
  document.getElementById("replay-last").addEventListener("click", function () { go(Number(slider.max)); });
  document.addEventListener("click", function (ev) {
    var button = ev.target.closest ? ev.target.closest(".ev-replay") : null;
    if (!button) return;
    go(Number(button.getAttribute("data-seq")));
    root.scrollIntoView({ behavior: "smooth", block: "start" });
  });

  load(root.getAttribute("data-version"))
    .then(function () {
      var states = JSON.parse(el.getAttribute("data-states") || "{}");
      paint(states);
      el.setAttribute("data-seq", slider.value);
      follow(Number(slider.value));
      el.setAttribute("data-ready", "1");
    })
    .catch(function (err) {
      el.setAttribute("data-error", String(err));
      el.textContent = "The diagram could not be shown: " + err;
    });
})();
