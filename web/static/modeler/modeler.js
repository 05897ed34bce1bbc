// The Models area's editor: bpmn-js Modeler with the properties panel, validation shown on the
// diagram, deploy, download/open of .bpmn files, and simulation on a virtual clock.
// Bundled by esbuild (`npm run build`) into web/static/build/modeler.js + modeler.css.
import "bpmn-js/dist/assets/diagram-js.css";
import "bpmn-js/dist/assets/bpmn-js.css";
import "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css";
import "@bpmn-io/properties-panel/dist/assets/properties-panel.css";
import "./modeler.css";

import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import camundaModdle from "camunda-bpmn-moddle/resources/camunda.json";
import spiffModdle from "./spiffworkflow.json";
import PathfinderPropertiesProvider from "./provider.js";
import NestedLaneBehavior from "./lanes.js";
import { Simulator } from "./simulate.js";
import { postJSON } from "./http.js";

// A form added in the modeller, as the properties panel's outputs entry reads it (the server
// sends the same shape for the forms it knows: web/modeler_views.py form_outputs).
function formOutputs(textOfForm) {
  try {
    const schema = JSON.parse(textOfForm);
    const props = schema && typeof schema.properties === "object" ? schema.properties : {};
    const fields = {};
    for (const [name, sub] of Object.entries(props || {})) fields[name] = (sub && sub.title) || name;
    return { outputs: schema["x-outputs"], fields };
  } catch (error) {
    return null;
  }
}

const EMPTY = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="new_process" name="New process" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" name="Start" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="new_process">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1">
        <dc:Bounds x="180" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>`;

const PathfinderModule = {
  __init__: ["pathfinderPropertiesProvider", "nestedLaneBehavior"],
  pathfinderPropertiesProvider: ["type", PathfinderPropertiesProvider],
  nestedLaneBehavior: ["type", NestedLaneBehavior],
};

function text(el, value) {
  el.textContent = value == null ? "" : String(value);
  return el;
}

function make(tag, attrs, children) {
  const el = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (k === "text") text(el, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  });
  (children || []).forEach((c) => c && el.appendChild(c));
  return el;
}

class ModelerPage {
  constructor(root) {
    this.root = root;
    this.cfg = JSON.parse(root.getAttribute("data-config"));
    this.extraForms = {};
    this.problemIds = [];
    this.modeler = new BpmnModeler({
      container: root.querySelector("#canvas"),
      propertiesPanel: { parent: root.querySelector("#properties") },
      additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, PathfinderModule],
      moddleExtensions: { camunda: camundaModdle, spiffworkflow: spiffModdle },
      pathfinder: { formFiles: this.cfg.form_files, formOutputs: this.cfg.form_outputs || {} },
    });
    this.status = root.querySelector("#modeler-status");
    this.list = root.querySelector("#problem-list");
    this.summary = root.querySelector("#problem-summary");
    this.bind();
    this.simulator = new Simulator(this, root.querySelector("#simulation"));
    const events = this.modeler.get("eventBus");
    const registry = this.modeler.get("elementRegistry");
    events.on(["searchPad.preselected", "searchPad.selected"], (e) => {
      const element = registry.get(e.id);
      if (element) this.zoomTo(element);
    });
    window.pathfinderModeler = this; // for tests and the browser console
  }

  // Fit the diagram into the part of the canvas the palette does not cover.
  fit() {
    const canvas = this.modeler.get("canvas");
    canvas.zoom("fit-viewport");
    const palette = this.root.querySelector(".djs-palette");
    const inner = canvas.viewbox().inner;
    const size = canvas.getSize();
    const left = (palette ? palette.offsetWidth + palette.offsetLeft : 0) + 16;
    if (!inner.width || !inner.height) return;
    const scale = Math.min(1, (size.width - left - 16) / inner.width, (size.height - 32) / inner.height);
    canvas.viewbox({
      x: inner.x - left / scale,
      y: inner.y - 16 / scale,
      width: size.width / scale,
      height: size.height / scale,
    });
  }

  // Search (Ctrl+F) scrolls to the element; also zoom to a readable size when it is tiny.
  zoomTo(element) {
    const canvas = this.modeler.get("canvas");
    if (canvas.zoom() < 0.9) canvas.zoom(1);
    canvas.scrollToElement(element, { top: 120, left: 120, right: 120, bottom: 120 });
  }

  toggleProperties(button) {
    const shell = this.root.querySelector(".modeler-shell");
    const hidden = shell.classList.toggle("no-properties");
    button.setAttribute("aria-pressed", String(!hidden));
    button.textContent = hidden ? "Show properties" : "Hide properties";
    this.modeler.get("canvas").resized();
  }

  say(message, kind) {
    this.status.className = `modeler-status ${kind || "info"}`;
    text(this.status, message);
  }

  async open() {
    let xml = EMPTY;
    if (this.cfg.xml_url) {
      const response = await fetch(this.cfg.xml_url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      xml = await response.text();
    }
    await this.importXML(xml);
  }

  async importXML(xml) {
    const result = await this.modeler.importXML(xml);
    this.fit();
    const warnings = (result.warnings || []).length;
    this.say(warnings ? `Opened with ${warnings} import warning(s).` : "Opened.", warnings ? "warning" : "info");
    this.root.setAttribute("data-ready", "1");
    return result;
  }

  async xml() {
    const { xml } = await this.modeler.saveXML({ format: true });
    return xml;
  }

  async payload(extra) {
    return Object.assign(
      {
        xml: await this.xml(),
        process_key: this.cfg.process_key,
        version: this.cfg.version,
        file_name: this.cfg.file_name,
        forms: this.extraForms,
      },
      extra || {},
    );
  }

  bind() {
    const on = (id, fn) => {
      const el = this.root.querySelector(id);
      if (el) el.addEventListener(el.tagName === "INPUT" && el.type === "file" ? "change" : "click", fn);
    };
    on("#btn-validate", () => this.validate());
    on("#btn-deploy", () => this.deploy());
    on("#btn-download", () => this.download());
    on("#btn-properties", (event) => this.toggleProperties(event.currentTarget));
    on("#open-file", (event) => this.openLocal(event.target));
    on("#add-forms", (event) => this.addForms(event.target));
  }

  clearMarkers() {
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    overlays.remove({ type: "pf-problem" });
    this.problemIds.forEach((id) => {
      canvas.removeMarker(id, "pf-problem-error");
      canvas.removeMarker(id, "pf-problem-warning");
    });
    this.problemIds = [];
  }

  select(id) {
    const registry = this.modeler.get("elementRegistry");
    const element = registry.get(id);
    if (!element) return;
    this.modeler.get("selection").select(element);
    const canvas = this.modeler.get("canvas");
    if (canvas.zoom() < 0.6) canvas.zoom(0.9); // a large diagram fitted to the screen is unreadable
    const box = canvas.viewbox(); // centre it (scrollToElement leaves it under the palette)
    const mid = element.waypoints ? element.waypoints[0] : { x: element.x + element.width / 2, y: element.y + element.height / 2 };
    canvas.viewbox({ x: mid.x - box.width / 2, y: mid.y - box.height / 2, width: box.width, height: box.height });
  }

  showProblems(problems) {
    this.clearMarkers();
    const registry = this.modeler.get("elementRegistry");
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    const byElement = {};
    problems.forEach((p) => {
      if (p.element_id && registry.get(p.element_id)) {
        (byElement[p.element_id] = byElement[p.element_id] || []).push(p);
      }
    });
    Object.entries(byElement).forEach(([id, found]) => {
      const severe = found.some((p) => p.severity === "error") ? "error" : "warning";
      canvas.addMarker(id, `pf-problem-${severe}`);
      this.problemIds.push(id);
      const badge = make("button", {
        type: "button",
        class: `pf-problem-badge ${severe}`,
        "data-element-id": id,
        title: found.map((p) => p.message).join("\n"),
        text: String(found.length),
        onclick: () => this.focusProblem(id),
      });
      overlays.add(id, "pf-problem", { position: { top: -10, right: 10 }, html: badge });
    });
    this.list.replaceChildren();
    problems.forEach((p) => {
      const onDiagram = p.element_id && registry.get(p.element_id);
      const where = p.element_id ? `${p.element_name || p.element_id}` : p.file || "";
      const item = make("li", { class: `problem ${p.severity}`, "data-element-id": p.element_id || "" }, [
        make("span", { class: `badge badge-${p.severity === "error" ? "error" : "warning"}`, text: p.severity }),
        onDiagram
          ? make("button", { type: "button", class: "link-button problem-target", text: where, onclick: () => this.select(p.element_id) })
          : make("span", { class: "problem-target", text: where }),
        make("span", { class: "problem-message", text: ` ${p.message}` }),
        make("small", { class: "muted", text: ` ${p.code || ""}${p.line ? ` · line ${p.line}` : ""}` }),
      ]);
      this.list.appendChild(item);
    });
    const errors = problems.filter((p) => p.severity === "error").length;
    text(this.summary, problems.length ? `${errors} error(s), ${problems.length - errors} warning(s)` : "No problems found.");
    this.root.setAttribute("data-problems", String(problems.length));
  }

  focusProblem(id) {
    this.select(id);
    const item = this.list.querySelector(`li[data-element-id="${CSS.escape(id)}"]`);
    if (item) item.scrollIntoView({ block: "nearest" });
  }

  async validate() {
    this.say("Checking…");
    const { ok, data } = await postJSON(this.cfg.urls.validate, await this.payload());
    if (!ok) {
      this.say(data.message || "The check failed.", "error");
      return data;
    }
    this.showProblems(data.problems);
    this.say(
      data.errors ? `${data.errors} error(s) must be fixed before deploying.` : data.warnings ? `Ready to deploy once you accept ${data.warnings} warning(s).` : "No problems: ready to deploy.",
      data.errors ? "error" : data.warnings ? "warning" : "success",
    );
    this.root.setAttribute("data-validated", String(Date.now()));
    return data;
  }

  async deploy() {
    this.say("Deploying…");
    const accept = this.root.querySelector("#accept-warnings").checked;
    const { ok, data } = await postJSON(this.cfg.urls.deploy, await this.payload({ accept_warnings: accept }));
    if (data.problems) this.showProblems(data.problems);
    const result = this.root.querySelector("#deploy-result");
    result.replaceChildren();
    if (!ok) {
      this.say(data.message || "Not deployed.", "error");
      return data;
    }
    this.say(data.message, "success");
    (data.versions || []).forEach((v) => {
      result.appendChild(
        make("li", {}, [
          make("a", { href: v.url, text: `${v.process_key} version ${v.version}` }),
          make("span", { text: v.executable ? " · can be started" : " · view only" }),
        ]),
      );
      if (v.process_key === this.cfg.process_key || !this.cfg.process_key) {
        this.cfg.process_key = v.process_key;
        this.cfg.version = v.version;
        const heading = document.getElementById("modeler-version");
        if (heading) heading.textContent = `version ${v.version} · ${this.cfg.file_name || v.process_key}`;
      }
    });
    this.root.setAttribute("data-deployed", JSON.stringify(data.versions || []));
    return data;
  }

  async download() {
    const xml = await this.xml();
    const link = make("a", {
      href: URL.createObjectURL(new Blob([xml], { type: "application/xml" })),
      download: this.cfg.file_name || "diagram.bpmn",
    });
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  async openLocal(input) {
    const file = input.files && input.files[0];
    if (!file) return;
    try {
      await this.importXML(await file.text());
      this.say(`Opened ${file.name}. Deploying stores it under its process id.`, "info");
    } catch (error) {
      this.say(`${file.name} could not be opened: ${error.message}`, "error");
    }
  }

  async addForms(input) {
    const names = [];
    for (const file of Array.from(input.files || [])) {
      this.extraForms[file.name] = await file.text();
      names.push(file.name);
      this.cfg.form_outputs = this.cfg.form_outputs || {};
      this.cfg.form_outputs[file.name] = formOutputs(this.extraForms[file.name]);
      if (!this.cfg.form_files.includes(file.name)) this.cfg.form_files.push(file.name);
    }
    this.cfg.form_files.sort();
    text(this.root.querySelector("#added-forms"), names.length ? `Added: ${names.join(", ")}` : "");
  }
}

window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("modeler");
  if (!root) return;
  const page = new ModelerPage(root);
  page.open().catch((error) => {
    root.setAttribute("data-error", String(error));
    page.say(`The diagram could not be opened: ${error.message || error}`, "error");
  });
});
