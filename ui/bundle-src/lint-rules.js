// Live lint rules for the modeler (bpmn-js-bpmnlint), mirroring the server's checks in
// engine/flow_checks.py and engine/checks.py. The server stays the authority: these
// only show the same problems while the owner edits, before any validation request.
import { is, isAny } from "bpmn-js/lib/util/ModelUtil";

var FLOW_NODES = [
  "bpmn:Task", "bpmn:Gateway", "bpmn:IntermediateCatchEvent", "bpmn:IntermediateThrowEvent",
];

function disconnected() {
  function check(node, reporter) {
    if (!isAny(node, FLOW_NODES.concat(["bpmn:StartEvent", "bpmn:EndEvent", "bpmn:SubProcess", "bpmn:CallActivity"]))) return;
    if (node.triggeredByEvent || node.isForCompensation) return;
    var defs = node.eventDefinitions || [];
    if (defs.some(function (d) { return is(d, "bpmn:LinkEventDefinition"); })) return;
    if (is(node, "bpmn:BoundaryEvent")) return;
    var needIn = !is(node, "bpmn:StartEvent");
    var needOut = !is(node, "bpmn:EndEvent");
    var missing = [];
    if (needIn && !(node.incoming || []).length) missing.push("incoming");
    if (needOut && !(node.outgoing || []).length) missing.push("outgoing");
    if (missing.length) {
      reporter.report(node.id, "Not connected: it has no " + missing.join(" and no ") + " sequence flow");
    }
  }
  return { check: check };
}

function gatewayConditions() {
  function check(node, reporter) {
    if (!isAny(node, ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"])) return;
    var outgoing = node.outgoing || [];
    if (outgoing.length < 2) return;
    var bare = outgoing.filter(function (flow) {
      return flow !== node.default && !flow.conditionExpression;
    });
    if (bare.length) {
      reporter.report(node.id, "Outgoing flows without a condition (" +
        bare.map(function (f) { return f.name || f.id; }).join(", ") + ")" +
        (node.default ? "" : " and no default flow"));
    }
  }
  return { check: check };
}

export var knownRoles = { list: [] };

// as core/roles.py normalise_role: "Back office" -> "back_office"
function normalise(name) { return name.trim().replace(/[\s-]+/g, "_").toLowerCase(); }

function laneRole() {
  function check(node, reporter) {
    if (!is(node, "bpmn:Lane") || !knownRoles.list.length) return;
    var name = normalise(node.name || "");
    if (knownRoles.list.map(normalise).indexOf(name) < 0) {
      reporter.report(node.id, "Lane '" + (node.name || "") + "' is not a role (" + knownRoles.list.join(", ") + ")");
    }
  }
  return { check: check };
}

var RULES = {
  "disconnected": disconnected,
  "gateway-conditions": gatewayConditions,
  "lane-role": laneRole,
};

export var lintConfig = {
  config: {
    rules: {
      "retention/disconnected": "error",
      "retention/gateway-conditions": "error",
      "retention/lane-role": "warn",
    },
  },
  resolver: {
    resolveRule: function (pkg, ruleName) {
      var rule = RULES[ruleName];
      if (!rule) throw new Error("unknown rule " + pkg + "/" + ruleName);
      return rule;
    },
    resolveConfig: function () { return null; },
  },
};
