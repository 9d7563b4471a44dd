// The process owner's modeler bundle: bpmn-js with the properties panel, this product's
// properties provider (spiffworkflow extensions) and live linting. Built by
// scripts/vendor-ui.sh into ui/static/vendor/retention-modeler/ (global RetentionModeler).
import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import lintModule from "bpmn-js-bpmnlint";
import spiffworkflow from "./spiffworkflow.json";
import RetentionPropertiesProvider, { setSpiffProperty, spiffProperty } from "./spiff-provider.js";
import { knownRoles, lintConfig } from "./lint-rules.js";

var retentionModule = {
  __init__: ["retentionPropertiesProvider"],
  retentionPropertiesProvider: ["type", RetentionPropertiesProvider],
};

// options: container, propertiesParent, retention { check, forms, services, roles, laneNames }
export function create(options) {
  var retention = options.retention;
  knownRoles.list = retention.roles().concat(retention.laneNames());
  return new BpmnModeler({
    container: options.container,
    propertiesPanel: { parent: options.propertiesParent },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, retentionModule, lintModule],
    moddleExtensions: { spiffworkflow: spiffworkflow },
    linting: { bpmnlint: lintConfig, active: true },
    retention: retention,
  });
}

export { spiffProperty };

// Set (or, with an empty value, remove) a spiffworkflow:property of an element, undoably.
export function setProperty(modeler, element, name, value) {
  setSpiffProperty(element, name, value, { modeling: modeler.get("modeling"), bpmnFactory: modeler.get("bpmnFactory") });
}
