// The heatmap page: each version's diagram (bpmn-navigated-viewer, global BpmnJS)
// coloured by the chosen metric on one scale for both sides, a badge with the value per
// element (and the change on the newer side), flows drawn wider the more cases took them.
// The figures come from <script type="application/json" id="heatmap-data">.
(function () {
  "use strict";
  var data = window.rf.pageData("heatmap-data");
  var metric = window.rf.pageData("heatmap-metric") || "cases";
  if (!data || !window.BpmnJS) return;
  var STEPS = 5;
  var isWait = metric.indexOf("wait") === 0;

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var s = Math.round(seconds);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.round(s / 60) + "m";
    if (s < 86400) return (s / 3600).toFixed(1) + "h";
    return (s / 86400).toFixed(1) + "d";
  }
  function show(value) { return isWait ? duration(value) : String(value); }

  var max = 0;
  var maxFlow = 0;
  data.sides.forEach(function (side) {
    side.elements.forEach(function (e) { max = Math.max(max, e[metric] || 0); });
    side.flows.forEach(function (f) { maxFlow = Math.max(maxFlow, f.cases); });
  });
  function step(value) {
    if (!value || !max) return -1;
    return Math.min(STEPS - 1, Math.floor((value / max) * STEPS));
  }

  // the legend: the range each colour stands for
  document.querySelectorAll("#heat-legend [data-step]").forEach(function (swatch) {
    var i = Number(swatch.getAttribute("data-step"));
    var low = (max * i) / STEPS;
    var high = (max * (i + 1)) / STEPS;
    swatch.textContent = max ? show(isWait ? low : Math.floor(low) + 1) + "–" + show(isWait ? high : Math.floor(high)) : "–";
  });

  function badge(overlays, id, text, cls, position, title) {
    var el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    if (title) el.title = title;
    overlays.add(id, "rf-heat", { position: position, html: el });
  }

  function paint(viewer, side, index) {
    var registry = viewer.get("elementRegistry");
    var canvas = viewer.get("canvas");
    var overlays = viewer.get("overlays");
    var newer = data.sides.length === 2 && index === 1;
    side.elements.forEach(function (e) {
      if (!registry.get(e.element_id)) return;
      var value = e[metric];
      var s = step(value);
      if (s >= 0) canvas.addMarker(e.element_id, "heat-" + s);
      var title = e.cases + " cases, " + e.times + "×; wait p50 " + duration(e.wait_p50_seconds) +
        ", p95 " + duration(e.wait_p95_seconds) + "; " + e.sla_breaches + " SLA breaches; " + e.incidents + " incidents";
      if (value) badge(overlays, e.element_id, show(value), "heat-badge", { bottom: 8, right: 8 }, title);
      var d = newer ? data.deltas[e.element_id] : null;
      var delta = d && (metric === "wait_p95_seconds" ? null : d[metric === "wait_p50_seconds" ? "wait_p50_seconds" : metric]);
      if (d && delta) {
        var text = (delta > 0 ? "+" : "−") + show(Math.abs(delta));
        badge(overlays, e.element_id, text, "heat-badge " + (delta > 0 ? "heat-delta-up" : "heat-delta-down"), { top: -10, right: 8 }, "change from the older version");
      }
    });
    side.flows.forEach(function (f) {
      var flow = registry.get(f.flow_id);
      if (!flow || !f.cases) return;
      canvas.addMarker(f.flow_id, "heat-flow");
      var path = registry.getGraphics(flow).querySelector("path");
      if (path) path.style.strokeWidth = (1.5 + 6 * (f.cases / (maxFlow || 1))).toFixed(1) + "px";
      var waypoints = flow.waypoints || [];
      var mid = waypoints[Math.floor(waypoints.length / 2)] || { x: flow.x, y: flow.y };
      var at = { left: mid.x - flow.x, top: mid.y - flow.y - 18 };
      var fd = newer ? data.flow_deltas[f.flow_id] : null;
      badge(overlays, f.flow_id, String(f.cases) + (fd ? " (" + (fd > 0 ? "+" : "") + fd + ")" : ""), "heat-flow-badge", at, f.cases + " cases took this flow");
    });
  }

  var pending = 0;
  window.rfHeatmaps = [];
  document.querySelectorAll(".heat-viewer").forEach(function (root) {
    var index = Number(root.getAttribute("data-side"));
    var viewer = new window.BpmnJS({ container: root.querySelector(".heat-canvas") });
    window.rfHeatmaps[index] = viewer;
    pending += 1;
    window.rf.getText(root.getAttribute("data-xml-url"))
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        viewer.get("canvas").zoom("fit-viewport");
        paint(viewer, data.sides[index], index);
        root.setAttribute("data-ready", "true");
        pending -= 1;
        if (!pending) document.body.setAttribute("data-heatmap-ready", "true");
      })
      .catch(function (err) { window.rf.say("The diagram could not be opened: " + err.message, "error"); });
  });
})();
