// Properties-panel groups for what Pathfinder's engine reads beyond names, lanes and timers
// (which bpmn-js-properties-panel's own BPMN provider covers): the Python condition of a
// sequence flow, and a user task's form, UI schema, due date and instructions, stored as
// SpiffWorkflow extension elements (spiffworkflow:properties / spiffworkflow:property).
import { jsx } from "@bpmn-io/properties-panel/preact/jsx-runtime";
import {
  Group,
  SelectEntry,
  TextAreaEntry,
  TextFieldEntry,
  isSelectEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

const FORM_PROPERTY = "formJsonSchemaFilename";
const UI_PROPERTY = "formUiSchemaFilename";
const DUE_PROPERTY = "dueIn";

function extensionValues(bo) {
  const ext = bo.get("extensionElements");
  return ext ? ext.get("values") : [];
}

function spiffProperties(bo) {
  return extensionValues(bo).find((v) => is(v, "spiffworkflow:Properties"));
}

export function getSpiffProperty(element, name) {
  const props = spiffProperties(getBusinessObject(element));
  const found = props && props.get("properties").find((p) => p.name === name);
  return found ? found.value || "" : "";
}

function ensureExtensionElements(element, bpmnFactory, modeling) {
  const bo = getBusinessObject(element);
  let ext = bo.get("extensionElements");
  if (!ext) {
    ext = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    modeling.updateProperties(element, { extensionElements: ext });
  }
  return ext;
}

export function setSpiffProperty(element, name, value, injector) {
  const modeling = injector.get("modeling");
  const bpmnFactory = injector.get("bpmnFactory");
  const bo = getBusinessObject(element);
  let props = spiffProperties(bo);
  let prop = props && props.get("properties").find((p) => p.name === name);
  if (!value) {
    if (prop) {
      modeling.updateModdleProperties(element, props, {
        properties: props.get("properties").filter((p) => p !== prop),
      });
    }
    return;
  }
  if (!props) {
    const ext = ensureExtensionElements(element, bpmnFactory, modeling);
    props = bpmnFactory.create("spiffworkflow:Properties", { properties: [] });
    props.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: [...ext.get("values"), props] });
  }
  if (!prop) {
    prop = bpmnFactory.create("spiffworkflow:Property", { name: name, value: value });
    prop.$parent = props;
    modeling.updateModdleProperties(element, props, {
      properties: [...props.get("properties"), prop],
    });
  } else {
    modeling.updateModdleProperties(element, prop, { value: value });
  }
}

function instructions(bo) {
  return extensionValues(bo).find((v) => is(v, "spiffworkflow:InstructionsForEndUser"));
}

function setInstructions(element, text, injector) {
  const modeling = injector.get("modeling");
  const bpmnFactory = injector.get("bpmnFactory");
  const bo = getBusinessObject(element);
  const current = instructions(bo);
  if (current && !text) {
    const ext = bo.get("extensionElements");
    modeling.updateModdleProperties(element, ext, {
      values: ext.get("values").filter((v) => v !== current),
    });
  } else if (current) {
    modeling.updateModdleProperties(element, current, { text: text });
  } else if (text) {
    const ext = ensureExtensionElements(element, bpmnFactory, modeling);
    const created = bpmnFactory.create("spiffworkflow:InstructionsForEndUser", { text: text });
    created.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: [...ext.get("values"), created] });
  }
}

function options(files, suffix, current) {
  const ui = (f) => f.endsWith(".uischema.json");
  const names = files.filter((f) => (suffix === ".uischema.json" ? ui(f) : f.endsWith(".json") && !ui(f)));
  if (current && !names.includes(current)) names.unshift(current);
  return [{ value: "", label: "(none)" }].concat(names.map((n) => ({ value: n, label: n })));
}

function formSelect(property, suffix, label) {
  return function FormSelect(props) {
    const { element, id } = props;
    const injector = useService("injector");
    const config = useService("config.pathfinder") || {};
    const files = config.formFiles || [];
    return selectEntry(element, id, property, suffix, label, files, injector);
  };
}

const FormSchemaSelect = formSelect(FORM_PROPERTY, ".schema.json", "Form (JSON Schema file)");
const UiSchemaSelect = formSelect(UI_PROPERTY, ".uischema.json", "Form layout (UI schema file)");

function selectEntry(element, id, property, suffix, label, files, injector) {
  return jsx(SelectEntry, {
    element,
    id,
    label,
    getValue: () => getSpiffProperty(element, property),
    setValue: (value) => setSpiffProperty(element, property, value, injector),
    getOptions: () => options(files, suffix, getSpiffProperty(element, property)),
  });
}

// What a form contributes to the case variables, worked out as engine/forms.py does: the fields
// its x-outputs lists (["field"] or {"field": "variable"}), else every field under its own name.
export function outputsOf(meta) {
  if (!meta) return null;
  const fields = meta.fields || {};
  const declared = meta.outputs;
  let pairs;
  if (Array.isArray(declared)) pairs = declared.map((f) => [String(f), String(f)]);
  else if (declared && typeof declared === "object") pairs = Object.entries(declared).map(([f, v]) => [f, String(v)]);
  else pairs = Object.keys(fields).map((f) => [f, f]);
  return {
    declared: declared !== undefined && declared !== null,
    rows: pairs.map(([field, variable]) => ({ field, variable, title: fields[field] || field })),
  };
}

function Outputs(props) {
  const { element, id } = props;
  const config = useService("config.pathfinder") || {};
  const file = getSpiffProperty(element, FORM_PROPERTY);
  const found = file ? outputsOf((config.formOutputs || {})[file]) : null;
  let note;
  if (!file) note = "No form: this task writes no case variables.";
  else if (!found) note = `${file} is not available here (add it with "Add form files…") or is not valid JSON.`;
  else if (!found.rows.length) note = "This form writes no case variables (x-outputs is empty).";
  else if (!found.declared) {
    note = "The form declares no x-outputs, so every field is written to the case variable of the same name. Declare x-outputs to write only what gateways and later steps read.";
  } else note = "Declared in the form's x-outputs; the other fields are kept only in this task's submission.";
  const items = (found ? found.rows : []).map((r) =>
    jsx("li", {
      children: [
        jsx("code", { children: r.variable }),
        r.variable === r.field ? ` ← ${r.title}` : ` ← ${r.title} (field ${r.field})`,
      ],
    }),
  );
  return jsx("div", {
    class: "bio-properties-panel-entry pathfinder-outputs",
    "data-entry-id": id,
    children: [
      jsx("p", { class: "bio-properties-panel-label", children: "Case variables this task writes" }),
      items.length ? jsx("ul", { class: "pathfinder-outputs-list", children: items }) : null,
      jsx("p", { class: found && !found.declared && found.rows.length ? "pathfinder-outputs-note is-undeclared" : "pathfinder-outputs-note", children: note }),
    ],
  });
}

function DueIn(props) {
  const { element, id } = props;
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return jsx(TextFieldEntry, {
    element,
    id,
    label: "Due in (ISO 8601 duration, e.g. P14D)",
    getValue: () => getSpiffProperty(element, DUE_PROPERTY),
    setValue: (value) => setSpiffProperty(element, DUE_PROPERTY, (value || "").trim(), injector),
    debounce,
  });
}

function Instructions(props) {
  const { element, id } = props;
  const injector = useService("injector");
  const debounce = useService("debounceInput");
  return jsx(TextAreaEntry, {
    element,
    id,
    label: "Instructions for the person doing the task",
    getValue: () => {
      const found = instructions(getBusinessObject(element));
      return found ? found.text || "" : "";
    },
    setValue: (value) => setInstructions(element, value, injector),
    debounce,
  });
}

function Condition(props) {
  const { element, id } = props;
  const modeling = useService("modeling");
  const bpmnFactory = useService("bpmnFactory");
  const debounce = useService("debounceInput");
  return jsx(TextFieldEntry, {
    element,
    id,
    label: "Condition (Python expression over the task data)",
    getValue: () => {
      const expression = getBusinessObject(element).get("conditionExpression");
      return expression ? expression.get("body") || "" : "";
    },
    setValue: (value) => {
      const text = (value || "").trim();
      const expression = text
        ? bpmnFactory.create("bpmn:FormalExpression", { body: text })
        : undefined;
      modeling.updateProperties(element, { conditionExpression: expression });
    },
    debounce,
  });
}

function conditionGroup(element) {
  if (!is(element, "bpmn:SequenceFlow")) return null;
  const source = getBusinessObject(element).sourceRef;
  if (!source || !(is(source, "bpmn:ExclusiveGateway") || is(source, "bpmn:InclusiveGateway"))) {
    return null;
  }
  return {
    id: "pathfinder-condition",
    label: "Condition",
    component: Group,
    entries: [{ id: "pathfinder-condition-expression", component: Condition, isEdited: isTextFieldEntryEdited }],
  };
}

function formGroup(element) {
  if (!is(element, "bpmn:UserTask") && !is(element, "bpmn:ManualTask")) return null;
  const entries = [];
  if (is(element, "bpmn:UserTask")) {
    entries.push({
      id: "pathfinder-form",
      component: FormSchemaSelect,
      isEdited: isSelectEntryEdited,
    });
    entries.push({
      id: "pathfinder-ui-form",
      component: UiSchemaSelect,
      isEdited: isSelectEntryEdited,
    });
    entries.push({ id: "pathfinder-outputs", component: Outputs });
  }
  entries.push({ id: "pathfinder-due-in", component: DueIn, isEdited: isTextFieldEntryEdited });
  entries.push({ id: "pathfinder-instructions", component: Instructions, isEdited: isTextAreaEntryEdited });
  return { id: "pathfinder-task", label: "Pathfinder task", component: Group, entries };
}

export default function PathfinderPropertiesProvider(propertiesPanel) {
  this.getGroups = function (element) {
    return function (groups) {
      const extra = [conditionGroup(element), formGroup(element)].filter(Boolean);
      // Right after "General" (name, id), before the rest.
      groups.splice(Math.min(1, groups.length), 0, ...extra);
      return groups;
    };
  };
  propertiesPanel.registerProvider(400, this);
}
PathfinderPropertiesProvider.$inject = ["propertiesPanel"];
