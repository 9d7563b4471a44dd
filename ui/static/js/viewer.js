// A read-only diagram with marks (bpmn-navigated-viewer, global BpmnJS):
// - case history: completed elements marked with how often they ran, current ones
//   highlighted, sequence flows between visited elements drawn as taken;
// - version compare: added and changed elements marked (or, on the old version, the
//   removed ones).
// The marks come from <script type="application/json" id="diagram-marks">.
(function () {
  "use strict";
  var root = document.getElementById("viewer");
  if (!root || !window.BpmnJS) return;
  var viewer = new window.BpmnJS({ container: "#canvas" });
  window.rfViewer = viewer; // for the browser tests
  var marks = window.rf.pageData("diagram-marks") || {};

  function badge(overlays, id, text, cls, title) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    if (title) el.title = title;
    overlays.add(id, "rf-mark", { position: { bottom: 8, right: 8 }, html: el });
  }

  function markHistory(registry, canvas, overlays) {
    var completed = marks.completed || {};
    var current = marks.current || [];
    Object.keys(completed).forEach(function (id) {
      if (!registry.get(id)) return;
      canvas.addMarker(id, "rf-done");
      badge(overlays, id, String(completed[id]), "rf-count", "completed " + completed[id] + "×");
    });
    current.forEach(function (id) {
      if (registry.get(id)) canvas.addMarker(id, "rf-current");
    });
    (marks.failed || []).forEach(function (id) {
      if (!registry.get(id)) return;
      canvas.addMarker(id, "rf-failed");
      badge(overlays, id, "!", "rf-failed-badge", "incident: this step failed; retry it on the operations page");
    });
    registry.filter(function (e) { return e.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
      var from = flow.source && flow.source.id;
      var to = flow.target && flow.target.id;
      if (completed[from] && (completed[to] || current.indexOf(to) >= 0)) canvas.addMarker(flow.id, "rf-done");
    });
  }

  function markDiff(registry, canvas, overlays) {
    [["added", "rf-added", "+"], ["changed", "rf-changed", "~"], ["removed", "rf-removed", "−"]].forEach(function (kind) {
      (marks[kind[0]] || []).forEach(function (element) {
        if (!registry.get(element.id)) return;
        canvas.addMarker(element.id, kind[1]);
        badge(overlays, element.id, kind[2], "rf-diff-badge " + kind[1], kind[0]);
      });
    });
  }

  window.rf.getText(root.getAttribute("data-xml-url"))
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      canvas.zoom("fit-viewport");
      var registry = viewer.get("elementRegistry");
      var overlays = viewer.get("overlays");
      if (root.getAttribute("data-mode") === "diff") markDiff(registry, canvas, overlays);
      else markHistory(registry, canvas, overlays);
      root.setAttribute("data-ready", "true");
    })
    .catch(function (err) { window.rf.say("The diagram could not be opened: " + err.message, "error"); });

  // Buttons/links with data-focus-element="id" scroll the diagram to that element.
  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-focus-element]");
    if (!target) return;
    var element = viewer.get("elementRegistry").get(target.getAttribute("data-focus-element"));
    if (element) viewer.get("canvas").scrollToElement(element);
  });
})();
