// The process owner's DMN editor (dmn-js): opens the decision table, validates and
// deploys the bundle with this file replaced, marks each problem at its cell, guards
// unsaved changes, links the new version, and runs the table on typed inputs on the
// server ("try it"). Needs retention-modeler/dmn-modeler.min.js (global DmnJS, built from ui/bundle-src/) and common.js.
(function () {
  "use strict";
  var root = document.getElementById("dmn-editor");
  if (!root || !window.DmnJS) return;
  var file = root.getAttribute("data-file");
  var editor = new window.DmnJS({ container: "#canvas" });
  var problemsList = document.getElementById("problems");
  var dirty = false;
  window.rfDmn = editor; // for the browser tests

  // The decision table's cells carry their element id (input columns their column id):
  // a problem marks its cell.
  function cellOf(error) {
    if (!error.element_id || (error.file && error.file !== file)) return null;
    var id = CSS.escape(error.element_id);
    return document.querySelector('#canvas [data-element-id="' + id + '"]')
      || document.querySelector('#canvas th[data-col-id="' + id + '"]');
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

  function currentXML() {
    return editor.saveXML({ format: true }).then(function (saved) { return saved.xml; });
  }

  function send(url, busy) {
    window.rf.say(busy, "info");
    return currentXML().then(function (xml) {
      var files = {};
      files[file] = xml;
      return window.rf.postJSON(url, { files: files });
    });
  }

  function answered(answer, deploying) {
    var body = answer.body || {};
    var errors = body.errors || [];
    showProblems(errors);
    if (answer.status === 422 || body.valid === false) {
      var marked = errors.filter(cellOf).length;
      window.rf.say((deploying ? "Not deployed: " : "") + errors.length + " problem(s) found" +
        (marked ? " (marked in the table)." : " (listed below)."), "error");
      return;
    }
    if (answer.status >= 300) { window.rf.say(window.rf.problem(answer), "error"); return; }
    if (!deploying) { window.rf.say("Valid: the bundle can be deployed.", "ok"); return; }
    dirty = false;
    window.rf.say(body.message, body.created === false ? "info" : "ok");
    if (body.url) {
      var link = document.createElement("a");
      link.href = body.url + "/dmn/" + encodeURIComponent(file);
      link.id = "new-version-link";
      link.textContent = " Open the new version";
      document.querySelector("#diagram-status p").appendChild(link);
    }
  }

  document.getElementById("validate").addEventListener("click", function () {
    send(root.getAttribute("data-validate-url"), "Validating…").then(function (a) { answered(a, false); });
  });
  document.getElementById("deploy").addEventListener("click", function () {
    send(root.getAttribute("data-deploy-url"), "Deploying…").then(function (a) { answered(a, true); });
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });

  // ---- try it: one box per variable the input expressions read ----------------------
  var tryForm = document.getElementById("dmn-try");
  var KEYWORDS = ["and", "or", "not", "in", "is", "None", "True", "False", "if", "else"];
  var NUMBER_TYPES = ["number", "integer", "long", "double"];

  function tableInputs() {
    var view = editor.getActiveView();
    var table = view && view.element && view.element.decisionLogic;
    var out = [], seen = {};
    ((table && table.input) || []).forEach(function (input) {
      var expression = (input.inputExpression && input.inputExpression.text) || "";
      var type = (input.inputExpression && input.inputExpression.typeRef) || "string";
      var names = expression.replace(/(["'])(?:\\.|(?!\1).)*\1/g, "").match(/[A-Za-z_][A-Za-z0-9_]*/g) || [];
      names.forEach(function (name, i) {
        if (seen[name] || KEYWORDS.indexOf(name) >= 0 || (i > 0 && expression.indexOf("." + name) >= 0)) return;
        seen[name] = true;
        out.push({ name: name, label: input.label || name, type: type });
      });
    });
    return out;
  }

  function buildTry() {
    if (!tryForm) return;
    var box = tryForm.querySelector(".inputs");
    box.textContent = "";
    tableInputs().forEach(function (input) {
      var label = document.createElement("label");
      label.textContent = input.label + (input.label !== input.name ? " (" + input.name + ")" : "");
      var field = document.createElement("input");
      field.setAttribute("data-variable", input.name);
      field.setAttribute("data-type", input.type);
      field.name = input.name;
      if (NUMBER_TYPES.indexOf(input.type) >= 0) field.inputMode = "decimal";
      label.appendChild(document.createElement("br"));
      label.appendChild(field);
      box.appendChild(label);
    });
  }

  function typed(field) {
    var text = field.value.trim(), type = field.getAttribute("data-type");
    if (text === "") return null;
    if (NUMBER_TYPES.indexOf(type) >= 0 && !isNaN(Number(text))) return Number(text);
    if (type === "boolean") return ["true", "yes", "1"].indexOf(text.toLowerCase()) >= 0;
    return text;
  }

  function showMatches(body) {
    var result = document.getElementById("dmn-try-result");
    result.textContent = "";
    document.querySelectorAll("#canvas .rf-match-row").forEach(function (row) { row.classList.remove("rf-match-row"); });
    if (!body.matches.length) { result.textContent = "No rule matches these inputs."; return; }
    var list = document.createElement("ol");
    body.matches.forEach(function (match) {
      var li = document.createElement("li");
      li.setAttribute("data-rule-id", match.rule_id);
      li.textContent = "Rule " + match.rule + (match.description ? " (" + match.description + ")" : "") +
        ": " + Object.keys(match.outputs).map(function (k) { return k + " = " + JSON.stringify(match.outputs[k]); }).join(", ");
      list.appendChild(li);
      document.querySelectorAll('#canvas td[data-row-id="' + CSS.escape(match.rule_id) + '"]').forEach(function (cell) {
        cell.parentElement.classList.add("rf-match-row");
      });
    });
    result.appendChild(list);
  }

  if (tryForm) {
    tryForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = {};
      tryForm.querySelectorAll("input[data-variable]").forEach(function (field) { data[field.name] = typed(field); });
      currentXML().then(function (xml) {
        return window.rf.postJSON(root.getAttribute("data-try-url"), { xml: xml, data: data });
      }).then(function (answer) {
        var result = document.getElementById("dmn-try-result");
        if (answer.status === 200) { showMatches(answer.body); return; }
        var body = answer.body || {};
        if (body.errors && body.errors.length) showProblems(body.errors);
        result.textContent = "Could not run the table: " + (body.detail || window.rf.problem(answer));
      }, function () { window.rf.say("The server cannot be reached.", "warn"); });
    });
  }

  window.rf.getText(root.getAttribute("data-xml-url"))
    .then(function (xml) { return editor.importXML(xml); })
    .then(function () { return openTable(root.getAttribute("data-decision")); })
    .then(function () {
      var viewer = editor.getActiveViewer();
      if (viewer) viewer.on("commandStack.changed", function () { dirty = true; });
      buildTry();
      root.setAttribute("data-ready", "true");
    })
    .catch(function (err) { window.rf.say("The decision table could not be opened: " + err.message, "error"); });
})();
