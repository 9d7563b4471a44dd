// The process owner's BPMN modeler: load a version's XML, edit it with the properties
// panel (this product's extensions: forms, conditions, scripts, timers, due times,
// priorities, services, lanes' roles, messages) and live lint, validate it (each problem
// marked at its element), deploy the bundle with this file (and any form edited here)
// replaced as a new version. Needs retention-modeler.min.js (global RetentionModeler,
// built from ui/bundle-src/) and common.js; the form editor is in form-editor.js.
(function () {
  "use strict";
  var root = document.getElementById("modeler");
  if (!root || !window.RetentionModeler) return;
  var file = root.getAttribute("data-file");
  var choices = { forms: [], services: [], roles: [], lane_names: [] };
  var edited = {}; // form schema files edited or created here: name -> JSON text
  var problemsList = document.getElementById("problems");
  var marked = [];
  var dirty = false;
  var modeler;

  function checkExpression(source, mode) {
    return window.rf.postJSON(root.getAttribute("data-check-url"), { source: source, mode: mode })
      .then(function (answer) {
        if (answer.status !== 200) return { ok: false, message: window.rf.problem(answer) };
        return answer.body;
      }, function () { return { ok: false, message: "the server cannot be reached" }; });
  }

  var retention = {
    check: checkExpression,
    forms: function () {
      var names = choices.forms.slice();
      Object.keys(edited).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
      return names.sort();
    },
    services: function () { return choices.services; },
    roles: function () { return choices.roles; },
    laneNames: function () { return choices.lane_names || []; },
    correlationKeys: function () { return choices.correlation_keys || []; },
  };

  function clearProblems() {
    var canvas = modeler.get("canvas");
    modeler.get("overlays").remove({ type: "rf-error" });
    marked.forEach(function (id) { canvas.removeMarker(id, "rf-error"); });
    marked = [];
    if (problemsList) problemsList.textContent = "";
  }

  function selectElement(id) {
    var element = modeler.get("elementRegistry").get(id);
    if (!element) return;
    modeler.get("selection").select(element);
    modeler.get("canvas").scrollToElement(element);
  }

  function showProblems(errors) {
    clearProblems();
    var registry = modeler.get("elementRegistry");
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    errors.forEach(function (error) {
      var here = error.element_id && (!error.file || error.file === file) && registry.get(error.element_id);
      if (here) {
        canvas.addMarker(error.element_id, "rf-error");
        marked.push(error.element_id);
        var badge = document.createElement("div");
        badge.className = "rf-error-badge";
        badge.setAttribute("data-element-id", error.element_id);
        badge.title = error.message;
        badge.textContent = "!";
        var note = document.createElement("div");
        note.className = "rf-error-note";
        note.textContent = error.message;
        badge.appendChild(note);
        overlays.add(error.element_id, "rf-error", { position: { top: -14, right: 14 }, html: badge });
      }
      if (!problemsList) return;
      var li = document.createElement("li");
      var where = [error.file, error.element_id].filter(Boolean).join(" · ") || "bundle";
      if (here) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = where;
        button.addEventListener("click", function () { selectElement(error.element_id); });
        li.appendChild(button);
      } else {
        var strong = document.createElement("strong");
        strong.textContent = where;
        li.appendChild(strong);
      }
      li.appendChild(document.createTextNode(": " + error.message));
      problemsList.appendChild(li);
    });
  }

  function currentFiles() {
    return modeler.saveXML({ format: true }).then(function (saved) {
      var files = {};
      Object.keys(edited).forEach(function (name) { files[name] = edited[name]; });
      files[file] = saved.xml;
      return { files: files };
    });
  }

  function send(url, busyText) {
    window.rf.say(busyText, "info");
    return currentFiles().then(function (payload) { return window.rf.postJSON(url, payload); });
  }

  function validate() {
    return send(root.getAttribute("data-validate-url"), "Validating…").then(function (answer) {
      if (answer.status !== 200) { window.rf.say(window.rf.problem(answer), "error"); return; }
      var warnings = answer.body.warnings || [];
      showProblems(answer.body.valid ? warnings : answer.body.errors || []);
      if (answer.body.valid && warnings.length) window.rf.say("Valid: the bundle can be deployed; " + warnings.length + " convention warning(s) of the lint are listed.", "ok");
      else if (answer.body.valid) window.rf.say("Valid: the bundle can be deployed.", "ok");
      else window.rf.say(answer.body.errors.length + " problem(s) found; they are marked on the diagram.", "error");
    }, function () { window.rf.say("The server cannot be reached.", "warn"); });
  }

  function deploy() {
    return send(root.getAttribute("data-deploy-url"), "Deploying…").then(function (answer) {
      var body = answer.body || {};
      if (answer.status === 422 && body.errors) {
        showProblems(body.errors);
        window.rf.say("Not deployed: " + body.errors.length + " problem(s), marked on the diagram.", "error");
        return;
      }
      if (answer.status !== 200 && answer.status !== 201) { window.rf.say(window.rf.problem(answer), "error"); return; }
      clearProblems();
      dirty = false;
      window.rf.say(body.message, body.created ? "ok" : "info");
      if (body.url) {
        var link = document.createElement("a");
        link.href = body.url;
        link.id = "new-version-link";
        link.textContent = " Open the new version";
        document.querySelector("#diagram-status p").appendChild(link);
      }
    }, function () { window.rf.say("The server cannot be reached.", "warn"); });
  }

  function start(xml) {
    modeler = window.RetentionModeler.create({
      container: "#canvas",
      propertiesParent: "#properties",
      retention: retention,
    });
    window.rfModeler = modeler; // for the browser tests
    if (window.rfFormEditor) {
      window.rfFormEditor.attach(modeler, {
        fileUrl: function (name) { return root.getAttribute("data-file-base") + name; },
        edited: edited,
        known: retention.forms,
        setForm: function (element, name) { window.RetentionModeler.setProperty(modeler, element, "formJsonSchemaFilename", name); },
        changed: function () { dirty = true; },
      });
    }
    return modeler.importXML(xml).then(function () {
      modeler.get("canvas").zoom("fit-viewport");
      modeler.on("commandStack.changed", function () { dirty = true; });
      root.setAttribute("data-ready", "true");
    });
  }

  var loadChoices = fetch(root.getAttribute("data-choices-url"), { credentials: "same-origin" })
    .then(function (r) { return r.ok ? r.json() : choices; })
    .then(function (found) { choices = found; }, function () { /* the panel offers free text */ });
  Promise.all([window.rf.getText(root.getAttribute("data-xml-url")), loadChoices])
    .then(function (loaded) { return start(loaded[0]); })
    .catch(function (err) { window.rf.say("The diagram could not be opened: " + err.message, "error"); });

  document.getElementById("validate").addEventListener("click", validate);
  document.getElementById("deploy").addEventListener("click", deploy);
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
})();
