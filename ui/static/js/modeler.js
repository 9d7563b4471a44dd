// The process owner's BPMN modeler: load a version's XML, edit it, validate it (each
// problem marked at its element), deploy the bundle with this file replaced as a new
// version. Needs bpmn-modeler.production.min.js (global BpmnJS) and common.js.
(function () {
  "use strict";
  var root = document.getElementById("modeler");
  if (!root || !window.BpmnJS) return;
  var file = root.getAttribute("data-file");
  var modeler = new window.BpmnJS({ container: "#canvas", keyboard: { bindTo: document } });
  var problemsList = document.getElementById("problems");
  var marked = [];
  var dirty = false;

  window.rfModeler = modeler; // for the browser tests

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
      showProblems(answer.body.errors || []);
      if (answer.body.valid) window.rf.say("Valid: the bundle can be deployed.", "ok");
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
        link.textContent = " Open the new version";
        document.querySelector("#diagram-status p").appendChild(link);
      }
    }, function () { window.rf.say("The server cannot be reached.", "warn"); });
  }

  window.rf.getText(root.getAttribute("data-xml-url"))
    .then(function (xml) { return modeler.importXML(xml); })
    .then(function () {
      modeler.get("canvas").zoom("fit-viewport");
      modeler.on("commandStack.changed", function () { dirty = true; });
      root.setAttribute("data-ready", "true");
    })
    .catch(function (err) { window.rf.say("The diagram could not be opened: " + err.message, "error"); });

  document.getElementById("validate").addEventListener("click", validate);
  document.getElementById("deploy").addEventListener("click", deploy);
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
})();
