// The simulation panel: runs the diagram being edited on a virtual clock, in a throwaway
// database on the server. Ready tasks are completed with generated (editable) form data;
// time jumps forward by days, months or years. Nothing touches real instances.
import { postJSON } from "./http.js";

function make(tag, attrs, children) {
  const el = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (k === "text") el.textContent = v == null ? "" : String(v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  });
  (children || []).forEach((c) => c && el.appendChild(c));
  return el;
}

export class Simulator {
  constructor(page, panel) {
    this.page = page;
    this.panel = panel;
    this.token = null;
    this.marked = [];
    if (!panel) return;
    panel.querySelector("#sim-start").addEventListener("click", () => this.start());
    panel.querySelector("#sim-stop").addEventListener("click", () => this.stop());
    panel.querySelectorAll("[data-advance]").forEach((button) => {
      button.addEventListener("click", () => {
        const [amount, unit] = button.getAttribute("data-advance").split(" ");
        this.advance(unit, Number(amount));
      });
    });
    panel.querySelector("#sim-advance-custom").addEventListener("click", () => {
      const amount = Number(panel.querySelector("#sim-amount").value || 0);
      this.advance(panel.querySelector("#sim-unit").value, amount);
    });
  }

  url(action) {
    return `${this.page.cfg.urls.simulate}/${encodeURIComponent(this.token)}/${action}`;
  }

  say(message, kind) {
    const el = this.panel.querySelector("#sim-message");
    el.className = `modeler-status ${kind || "info"}`;
    el.textContent = message;
  }

  async start() {
    this.say("Starting a simulation…");
    const body = await this.page.payload({
      data: this.panel.querySelector("#sim-data").value,
      start: this.panel.querySelector("#sim-start-date").value || null,
    });
    const { ok, data } = await postJSON(this.page.cfg.urls.simulate, body);
    if (!ok) return this.failed(data);
    this.token = data.token;
    this.panel.querySelector("#sim-controls").hidden = false;
    this.render(data, "Simulation started.");
  }

  async stop() {
    if (this.token) await postJSON(this.url("stop"), {});
    this.token = null;
    this.unmark();
    this.panel.querySelector("#sim-controls").hidden = true;
    this.panel.querySelector("#sim-state").replaceChildren();
    this.say("Simulation ended.");
  }

  async complete(taskId, dataText) {
    const { ok, data } = await postJSON(this.url("complete"), { task_id: taskId, data: dataText });
    if (!ok) return this.failed(data);
    this.render(data, "Task completed.");
  }

  async advance(unit, amount) {
    if (!amount || amount < 0) return this.say("Enter a number of days, months or years.", "error");
    const { ok, data } = await postJSON(this.url("advance"), { [unit]: amount });
    if (!ok) return this.failed(data);
    this.render(data, `Skipped ${amount} ${unit}.`);
  }

  failed(data) {
    if (data.problems) this.page.showProblems(data.problems);
    const fields = data.errors ? ` ${Object.entries(data.errors).map(([k, v]) => `${k}: ${v}`).join("; ")}` : "";
    this.say(`${data.message || "The simulation failed."}${fields}`, "error");
  }

  unmark() {
    const canvas = this.page.modeler.get("canvas");
    this.marked.forEach(([id, cls]) => canvas.removeMarker(id, cls));
    this.marked = [];
  }

  mark(ids, cls) {
    const canvas = this.page.modeler.get("canvas");
    const registry = this.page.modeler.get("elementRegistry");
    ids.filter((id) => id && registry.get(id)).forEach((id) => {
      canvas.addMarker(id, cls);
      this.marked.push([id, cls]);
    });
  }

  render(state, message) {
    this.say(`${message} Simulated time: ${state.now.slice(0, 10)} · ${state.status}${state.error ? ` · ${state.error}` : ""}`, state.error ? "error" : "success");
    this.unmark();
    this.mark(state.tasks.map((t) => t.element_id), "pf-sim-ready");
    this.mark(state.timers.map((t) => t.element_id), "pf-sim-waiting");
    const tasks = state.tasks.length
      ? state.tasks.map((t) => {
          const area = make("textarea", { rows: "6", class: "sim-task-data", "aria-label": `Data for ${t.name}` });
          area.value = JSON.stringify(t.sample, null, 2);
          return make("li", { class: "sim-task", "data-element-id": t.element_id }, [
            make("strong", { text: t.name }),
            make("span", { class: "muted", text: ` · ${t.lane || "no lane"}${t.form ? ` · ${t.form}` : ""}${t.due_at ? ` · due ${t.due_at.slice(0, 10)}` : ""}` }),
            make("details", {}, [make("summary", { text: "Data to submit (generated from the form)" }), area]),
            make("button", { type: "button", class: "button sim-complete", text: "Complete", onclick: () => this.complete(t.id, area.value) }),
          ]);
        })
      : [make("li", { class: "muted", text: "No task is ready." })];
    const timers = state.timers.length
      ? state.timers.map((t) => make("li", { text: `${t.element_id} · due ${t.due_at.slice(0, 16).replace("T", " ")}` }))
      : [make("li", { class: "muted", text: "No timer is waiting." })];
    const events = state.events.slice(-15).reverse().map((e) =>
      make("li", { text: `${e.at.slice(0, 10)} ${e.kind.replace(/_/g, " ")}${e.element_name || e.element_id ? ` · ${e.element_name || e.element_id}` : ""}` }),
    );
    const data = make("pre", { class: "sim-data", text: JSON.stringify(state.data, null, 2) });
    this.panel.querySelector("#sim-state").replaceChildren(
      make("div", { class: "sim-column" }, [make("h3", { text: "Ready tasks" }), make("ul", { id: "sim-tasks" }, tasks)]),
      make("div", { class: "sim-column" }, [
        make("h3", { text: "Waiting timers" }),
        make("ul", { id: "sim-timers" }, timers),
        make("h3", { text: "Latest events" }),
        make("ul", { id: "sim-events" }, events),
      ]),
      make("div", { class: "sim-column" }, [make("h3", { text: "Data" }), data]),
    );
    this.panel.setAttribute("data-now", state.now);
    this.panel.setAttribute("data-status", state.status);
  }
}
