// The process owner's DMN editor (dmn-js): opens the decision table, validates and
// deploys the bundle with this file replaced. Needs dmn-modeler.production.min.js
// (global DmnJS) and common.js.
(function () {
  "use strict";
  var root = document.getElementById("dmn-editor");
  if (!root || !window.DmnJS) return;
  var file = root.getAttribute("data-file");
  var editor = new window.DmnJS({ container: "#canvas", common: { keyboard: { bindTo: window } } });
  var problemsList = document.getElementById("problems");
  window.rfDmn = editor; // for the browser tests

  // The decision table's cells carry their element id: a problem marks its cell.
  function cellOf(error) {
    if (!error.element_id || (error.file && error.file !== file)) return null;
    return document.querySelector('#canvas [data-element-id="' + CSS.escape(error.element_id) + '"]');
  }

  function showProblems(errors) {
    document.querySelectorAll("#canvas .rf-error-cell").forEach(function (cell) {
      cell.classList.remove("rf-error-cell");
      cell.removeAttribute("title");
    });
    if (problemsList) problemsList.textContent = "";
    errors.forEach(function (error) {
      var cell = cellOf(error);
      if (cell) {
        cell.classList.add("rf-error-cell");
        cell.title = error.message;
      }
      if (!problemsList) return;
      var li = document.createElement("li");
      var where = [error.file, error.element_id].filter(Boolean).join(" · ") || "bundle";
      var label = document.createElement(cell ? "button" : "strong");
      label.textContent = where;
      if (cell) {
        label.type = "button";
        label.className = "link";
        label.addEventListener("click", function () { cell.scrollIntoView({ block: "center" }); cell.click(); });
      }
      li.appendChild(label);
      li.appendChild(document.createTextNode(": " + error.message));
      problemsList.appendChild(li);
    });
  }

  function openTable(decisionId) {
    var views = editor.getViews();
    var wanted = views.find(function (v) { return v.type === "decisionTable" && (!decisionId || v.element.id === decisionId); })
      || views.find(function (v) { return v.type === "decisionTable"; });
    return wanted ? editor.open(wanted) : Promise.resolve();
  }

  function send(url, busy) {
    window.rf.say(busy, "info");
    return editor.saveXML({ format: true }).then(function (saved) {
      var files = {};
      files[file] = saved.xml;
      return window.rf.postJSON(url, { files: files });
    });
  }

  function answered(answer, okText) {
    var body = answer.body || {};
    var errors = body.errors || [];
    showProblems(errors);
    if (answer.status === 422 || body.valid === false) {
      window.rf.say((okText ? "Not deployed: " : "") + errors.length + " problem(s) found (listed below).", "error");
      return;
    }
    if (answer.status >= 300) { window.rf.say(window.rf.problem(answer), "error"); return; }
    window.rf.say(okText ? body.message : "Valid: the bundle can be deployed.", body.created === false ? "info" : "ok");
  }

  document.getElementById("validate").addEventListener("click", function () {
    send(root.getAttribute("data-validate-url"), "Validating…").then(function (a) { answered(a, false); });
  });
  document.getElementById("deploy").addEventListener("click", function () {
    send(root.getAttribute("data-deploy-url"), "Deploying…").then(function (a) { answered(a, true); });
  });

  window.rf.getText(root.getAttribute("data-xml-url"))
    .then(function (xml) { return editor.importXML(xml); })
    .then(function () { return openTable(root.getAttribute("data-decision")); })
    .then(function () { root.setAttribute("data-ready", "true"); })
    .catch(function (err) { window.rf.say("The decision table could not be opened: " + err.message, "error"); });
})();
