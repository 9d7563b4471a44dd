// Properties-panel entries for this product's diagram extensions (the spiffworkflow
// namespace, as the bundles in processes/ write them): a user task's form, due time,
// priority and escalated priority; gateway flow conditions and script tasks' scripts
// (each checked by the server's sandbox check as it is typed); a service task's operator,
// result variable and parameters (from the handler registry); a lane's role; a message
// event's variable. Choices come from the server (GET .../choices), given as
// config.retention = { checkUrl, choices }.
import { h } from "@bpmn-io/properties-panel/preact";
import { useEffect, useState } from "@bpmn-io/properties-panel/preact/hooks";
import {
  SelectEntry, TextAreaEntry, TextFieldEntry,
  isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is, isAny } from "bpmn-js/lib/util/ModelUtil";

var ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

// ---- extension elements -------------------------------------------------------------

function extensionOf(bo, type) {
  var ext = bo.get("extensionElements");
  return ext && (ext.get("values") || []).find(function (v) { return is(v, type); });
}

function ensureExtension(element, bo, type, attrs, services) {
  var found = extensionOf(bo, type);
  if (found) return found;
  var modeling = services.modeling, factory = services.bpmnFactory;
  var ext = bo.get("extensionElements");
  if (!ext) {
    ext = factory.create("bpmn:ExtensionElements", { values: [] });
    ext.$parent = bo;
    modeling.updateModdleProperties(element, bo, { extensionElements: ext });
  }
  var created = factory.create(type, attrs || {});
  created.$parent = ext;
  modeling.updateModdleProperties(element, ext, { values: ext.get("values").concat([created]) });
  return created;
}

export function spiffProperty(element, name) {
  var props = extensionOf(getBusinessObject(element), "spiffworkflow:Properties");
  var found = props && (props.get("properties") || []).find(function (p) { return p.name === name; });
  return found ? found.value || "" : "";
}

export function setSpiffProperty(element, name, value, services) {
  var bo = getBusinessObject(element);
  var modeling = services.modeling;
  var props = extensionOf(bo, "spiffworkflow:Properties");
  var list = props ? props.get("properties") : [];
  var found = list.find(function (p) { return p.name === name; });
  if (!value) {
    if (found) modeling.updateModdleProperties(element, props, { properties: list.filter(function (p) { return p !== found; }) });
    return;
  }
  if (found) { modeling.updateModdleProperties(element, found, { value: value }); return; }
  props = ensureExtension(element, bo, "spiffworkflow:Properties", { properties: [] }, services);
  var created = services.bpmnFactory.create("spiffworkflow:Property", { name: name, value: value });
  created.$parent = props;
  modeling.updateModdleProperties(element, props, { properties: props.get("properties").concat([created]) });
}

function useServices() {
  return { modeling: useService("modeling"), bpmnFactory: useService("bpmnFactory") };
}

// ---- entries ------------------------------------------------------------------------

function PropertyField(props) {
  var element = props.element, services = useServices();
  return h(TextFieldEntry, {
    element: element, id: props.id, label: props.label, description: props.description,
    debounce: useService("debounceInput"),
    getValue: function () { return spiffProperty(element, props.name); },
    setValue: function (value) { setSpiffProperty(element, props.name, (value || "").trim(), services); },
    validate: props.validate,
  });
}

function checkWhole(value) {
  if (!value) return null;
  var n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 100 ? null : "A whole number from 0 to 100.";
}

function checkDuration(value) {
  return !value || ISO_DURATION.test(value) ? null : "An ISO 8601 duration such as PT4H (4 hours) or P2D (2 days).";
}

function FormEntry(props) {
  var element = props.element, services = useServices(), config = props.config;
  var eventBus = useService("eventBus");
  var current = spiffProperty(element, "formJsonSchemaFilename");
  var select = h(SelectEntry, {
    element: element, id: props.id, label: "Form",
    description: "The JSON Schema of the form the worker fills in.",
    getValue: function () { return current; },
    setValue: function (value) { setSpiffProperty(element, "formJsonSchemaFilename", value, services); },
    getOptions: function () {
      var forms = config.forms();
      if (current && forms.indexOf(current) < 0) forms = forms.concat([current]);
      return [{ value: "", label: "(no form)" }].concat(forms.map(function (f) { return { value: f, label: f }; }));
    },
  });
  var buttons = h("div", { class: "rf-form-buttons" },
    current ? h("button", { type: "button", class: "rf-panel-button", "data-action": "edit-form",
      onClick: function () { eventBus.fire("retention.editForm", { element: element, file: current }); } }, "Edit form fields…") : null,
    h("button", { type: "button", class: "rf-panel-button", "data-action": "new-form",
      onClick: function () { eventBus.fire("retention.editForm", { element: element, file: null }); } }, "New form…"));
  return h("div", null, select, buttons);
}

// An expression or script, checked by the server's sandbox check as it is typed.
function CheckedSource(props) {
  var element = props.element, config = props.config;
  var value = props.getValue();
  var state = useState(null), result = state[0], setResult = state[1];
  useEffect(function () {
    if (!value || !value.trim()) { setResult(null); return undefined; }
    var alive = true;
    var timer = setTimeout(function () {
      config.check(value, props.mode).then(function (answer) { if (alive) setResult(answer); });
    }, 400);
    return function () { alive = false; clearTimeout(timer); };
  }, [value]);
  var entry = h(props.multiline ? TextAreaEntry : TextFieldEntry, {
    element: element, id: props.id, label: props.label, description: props.description,
    debounce: useService("debounceInput"), monospace: true, rows: 4,
    getValue: props.getValue, setValue: props.setValue,
  });
  var note = result && h("p", {
    class: "rf-source-check " + (result.ok ? "rf-ok" : "rf-bad"), role: "status",
    "data-entry": props.id,
  }, result.ok ? "Accepted by the server's check." : "Refused: " + result.message);
  return h("div", null, entry, note);
}

function ConditionEntry(props) {
  var element = props.element, modeling = useService("modeling"), factory = useService("bpmnFactory");
  var bo = getBusinessObject(element);
  return h(CheckedSource, {
    element: element, id: props.id, config: props.config, mode: "eval",
    label: "Condition",
    description: "A Python expression on the case data, e.g. offer_accepted == True. Leave empty for the default flow.",
    getValue: function () { var c = bo.get("conditionExpression"); return (c && c.get("body")) || ""; },
    setValue: function (value) {
      var text = (value || "").trim();
      modeling.updateProperties(element, {
        conditionExpression: text ? factory.create("bpmn:FormalExpression", { body: text }) : undefined,
      });
    },
  });
}

function ScriptEntry(props) {
  var element = props.element, modeling = useService("modeling");
  var bo = getBusinessObject(element);
  return h(CheckedSource, {
    element: element, id: props.id, config: props.config, mode: "exec", multiline: true,
    label: "Script", description: "Python, run in the server's sandbox on the case data.",
    getValue: function () { return bo.get("script") || ""; },
    setValue: function (value) { modeling.updateProperties(element, { script: value || undefined, scriptFormat: "python" }); },
  });
}

function operatorOf(element) {
  return extensionOf(getBusinessObject(element), "spiffworkflow:ServiceTaskOperator");
}

function OperatorEntry(props) {
  var element = props.element, services = useServices(), config = props.config;
  return h(SelectEntry, {
    element: element, id: props.id, label: "Service",
    description: "The handler the server runs (from its registry).",
    getValue: function () { var op = operatorOf(element); return (op && op.id) || ""; },
    setValue: function (value) {
      var op = operatorOf(element);
      if (op) { services.modeling.updateModdleProperties(element, op, { id: value }); return; }
      ensureExtension(element, getBusinessObject(element), "spiffworkflow:ServiceTaskOperator", { id: value }, services);
    },
    getOptions: function () {
      var op = operatorOf(element), known = config.services();
      var options = [{ value: "", label: "(choose a service)" }].concat(known.map(function (s) {
        return { value: s.name, label: s.name + (s.doc ? " — " + s.doc : "") };
      }));
      if (op && op.id && !known.some(function (s) { return s.name === op.id; })) options.push({ value: op.id, label: op.id + " (unknown)" });
      return options;
    },
  });
}

function ResultVariableEntry(props) {
  var element = props.element, modeling = useService("modeling");
  return h(TextFieldEntry, {
    element: element, id: props.id, label: "Result variable",
    debounce: useService("debounceInput"),
    getValue: function () { var op = operatorOf(element); return (op && op.resultVariable) || ""; },
    setValue: function (value) { var op = operatorOf(element); if (op) modeling.updateModdleProperties(element, op, { resultVariable: value || undefined }); },
  });
}

function ParameterEntry(props) {
  var element = props.element, services = useServices(), name = props.param;
  function find() {
    var op = operatorOf(element), list = op && op.parameterList;
    return list && (list.get("parameters") || []).find(function (p) { return p.id === name; });
  }
  return h(CheckedSource, {
    element: element, id: props.id, config: props.config, mode: "eval",
    label: "Parameter " + name, description: "A Python expression (a variable name, or a \"quoted\" text).",
    getValue: function () { var p = find(); return (p && p.value) || ""; },
    setValue: function (value) {
      var op = operatorOf(element);
      if (!op) return;
      var found = find();
      if (found) { services.modeling.updateModdleProperties(element, found, { value: value || "" }); return; }
      var list = op.parameterList;
      if (!list) {
        list = services.bpmnFactory.create("spiffworkflow:Parameters", { parameters: [] });
        list.$parent = op;
        services.modeling.updateModdleProperties(element, op, { parameterList: list });
      }
      var created = services.bpmnFactory.create("spiffworkflow:Parameter", { id: name, type: "str", value: value || "" });
      created.$parent = list;
      services.modeling.updateModdleProperties(element, list, { parameters: list.get("parameters").concat([created]) });
    },
  });
}

function LaneRoleEntry(props) {
  var element = props.element, modeling = useService("modeling"), config = props.config;
  return h(SelectEntry, {
    element: element, id: props.id, label: "Role",
    description: "Who works the tasks of this lane (the lane is named after the role).",
    getValue: function () { return getBusinessObject(element).name || ""; },
    setValue: function (value) { modeling.updateProperties(element, { name: value }); },
    getOptions: function () {
      var name = getBusinessObject(element).name || "";
      var roles = config.roles().concat(config.laneNames());
      if (name && roles.indexOf(name) < 0) roles = [name].concat(roles);
      return [{ value: "", label: "(choose a role)" }].concat(roles.map(function (r) { return { value: r, label: r }; }));
    },
  });
}

// the variable is an extension of the event's message definition (as the bundles write it)
function messageDefinition(element) {
  return (getBusinessObject(element).eventDefinitions || []).find(function (d) { return is(d, "bpmn:MessageEventDefinition"); });
}

function MessageVariableEntry(props) {
  var element = props.element, services = useServices();
  return h(TextFieldEntry, {
    element: element, id: props.id, label: "Message variable",
    description: "The case variable the message's payload is stored in.",
    debounce: useService("debounceInput"),
    getValue: function () { var v = extensionOf(messageDefinition(element), "spiffworkflow:MessageVariable"); return (v && v.value) || ""; },
    setValue: function (value) {
      var bo = messageDefinition(element);
      var v = ensureExtension(element, bo, "spiffworkflow:MessageVariable", { value: value || "" }, services);
      services.modeling.updateModdleProperties(element, v, { value: value || "" });
    },
  });
}

// Messages reach the open case whose data matches the message's correlation values on
// the bundle's correlation keys (bundle.json "correlation_keys"): shown, not edited here.
function CorrelationEntry(props) {
  var keys = props.config.correlationKeys();
  return h("div", { class: "bio-properties-panel-entry rf-correlation", "data-entry-id": props.id },
    h("p", { class: "bio-properties-panel-label" }, "Correlation"),
    h("p", { class: "bio-properties-panel-description" }, keys.length
      ? "A message reaches the open case whose " + keys.join(", ") + " match the message's correlation values (bundle.json \"correlation_keys\")."
      : "A message reaches the open case whose data match all of the message's correlation values."));
}

// ---- the provider -------------------------------------------------------------------

function entry(id, component, element, config, extra, edited) {
  return Object.assign({ id: id, component: component, element: element, config: config, isEdited: edited || isTextFieldEntryEdited }, extra || {});
}

function retentionEntries(element, config) {
  var bo = getBusinessObject(element), out = [];
  if (is(element, "bpmn:UserTask")) {
    out.push(entry("rf-form", FormEntry, element, config, null, isSelectEntryEdited));
    out.push(entry("rf-due", PropertyField, element, config, { name: "due", label: "Due", description: "How long the task may wait: an ISO 8601 duration (PT4H, P2D).", validate: checkDuration }));
    out.push(entry("rf-dueCalendar", PropertyField, element, config, { name: "dueCalendar", label: "Due counts", description: "'business' (business hours) or 'calendar'", validate: function (v) { return !v || v === "business" || v === "calendar" ? null : "'business' or 'calendar'"; } }));
    out.push(entry("rf-priority", PropertyField, element, config, { name: "priority", label: "Priority", description: "0 to 100; higher comes first in the queue.", validate: checkWhole }));
    out.push(entry("rf-escalatedPriority", PropertyField, element, config, { name: "escalatedPriority", label: "Priority when overdue", description: "0 to 100, set when the due time passes.", validate: checkWhole }));
  }
  if (is(element, "bpmn:SequenceFlow") && isAny(bo.sourceRef, ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"])) {
    out.push(entry("rf-condition", ConditionEntry, element, config));
  }
  if (is(element, "bpmn:ScriptTask")) out.push(entry("rf-script", ScriptEntry, element, config, null, isTextAreaEntryEdited));
  if (is(element, "bpmn:ServiceTask")) {
    out.push(entry("rf-operator", OperatorEntry, element, config, null, isSelectEntryEdited));
    var op = operatorOf(element);
    if (op && op.id) {
      out.push(entry("rf-resultVariable", ResultVariableEntry, element, config));
      var known = (config.services().find(function (s) { return s.name === op.id; }) || { params: [] }).params;
      var present = ((op.parameterList && op.parameterList.get("parameters")) || []).map(function (p) { return p.id; });
      known.concat(present.filter(function (p) { return known.indexOf(p) < 0; })).forEach(function (param) {
        out.push(entry("rf-param-" + param, ParameterEntry, element, config, { param: param }));
      });
    }
  }
  if (is(element, "bpmn:Lane")) out.push(entry("rf-role", LaneRoleEntry, element, config, null, isSelectEntryEdited));
  var defs = bo.eventDefinitions || [];
  if (defs.some(function (d) { return is(d, "bpmn:MessageEventDefinition"); }) && is(element, "bpmn:CatchEvent")) {
    out.push(entry("rf-messageVariable", MessageVariableEntry, element, config));
  }
  if (defs.some(function (d) { return is(d, "bpmn:MessageEventDefinition"); })) {
    out.push(entry("rf-correlation", CorrelationEntry, element, config, null, function () { return false; }));
  }
  return out;
}

export default function RetentionPropertiesProvider(propertiesPanel, config) {
  propertiesPanel.registerProvider(400, this);
  this._config = config || {};
}

RetentionPropertiesProvider.$inject = ["propertiesPanel", "config.retention"];

RetentionPropertiesProvider.prototype.getGroups = function (element) {
  var config = this._config;
  return function (groups) {
    var entries = retentionEntries(element, config);
    if (entries.length) groups.splice(1, 0, { id: "retention", label: "Retention flow", entries: entries });
    return groups;
  };
};
