// The modeler's form editor: the fields of a user task's form (the bundle's JSON Schema
// file), edited in a dialog and sent with the diagram on validate/deploy (the server
// checks the schema like any bundle file). Attached by modeler.js; opened from the
// properties panel ("Edit form fields…", "New form…").
(function () {
  "use strict";
  var dialog = document.getElementById("form-editor");
  if (!dialog) return;
  var rows = dialog.querySelector("tbody");
  var nameInput = dialog.querySelector("#form-file");
  var message = dialog.querySelector(".form-editor-message");
  var TYPES = ["string", "number", "integer", "boolean"];
  var KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
  var state = null;

  function cell(child) { var td = document.createElement("td"); td.appendChild(child); return td; }

  function input(value, label, type) {
    var el = document.createElement("input");
    el.type = type || "text";
    if (type === "checkbox") el.checked = !!value; else el.value = value || "";
    el.setAttribute("aria-label", label);
    return el;
  }

  function addRow(key, prop, required) {
    prop = prop || {};
    var tr = document.createElement("tr");
    var type = document.createElement("select");
    type.setAttribute("aria-label", "Type");
    TYPES.forEach(function (t) { var o = document.createElement("option"); o.value = o.textContent = t; type.appendChild(o); });
    type.value = TYPES.indexOf(prop.type) >= 0 ? prop.type : "string";
    var remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.addEventListener("click", function () { tr.remove(); });
    tr.appendChild(cell(input(key, "Variable")));
    tr.appendChild(cell(input(prop.title, "Label")));
    tr.appendChild(cell(type));
    tr.appendChild(cell(input((prop.enum || []).join(", "), "Choices")));
    tr.appendChild(cell(input(required, "Required", "checkbox")));
    tr.appendChild(cell(remove));
    rows.appendChild(tr);
  }

  function fill(schema) {
    rows.textContent = "";
    var required = schema.required || [];
    Object.keys(schema.properties || {}).forEach(function (key) {
      addRow(key, schema.properties[key], required.indexOf(key) >= 0);
    });
  }

  function collect() {
    var schema = JSON.parse(JSON.stringify(state.schema));
    var old = schema.properties || {};
    schema.type = "object";
    schema.properties = {};
    schema.required = [];
    var problems = [];
    Array.prototype.forEach.call(rows.querySelectorAll("tr"), function (tr) {
      var inputs = tr.querySelectorAll("input, select");
      var key = inputs[0].value.trim();
      if (!KEY.test(key)) { problems.push("'" + key + "' is not a variable name (letters, digits, _)"); return; }
      if (schema.properties[key]) { problems.push("'" + key + "' is there twice"); return; }
      var prop = Object.assign({}, old[key] || {});
      prop.type = inputs[2].value;
      if (inputs[1].value.trim()) prop.title = inputs[1].value.trim(); else delete prop.title;
      var choices = inputs[3].value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      var before = JSON.stringify(prop.enum || []);
      if (choices.length) {
        prop.enum = choices.map(function (c) { return prop.type === "string" ? c : Number(c); });
        if (JSON.stringify(prop.enum) !== before) delete prop.oneOf; // labels of the old choices
        if (prop.enum.some(function (v) { return typeof v === "number" && isNaN(v); })) problems.push("the choices of '" + key + "' are not numbers");
      } else { delete prop.enum; delete prop.oneOf; }
      schema.properties[key] = prop;
      if (inputs[4].checked) schema.required.push(key);
    });
    if (!schema.required.length) delete schema.required;
    return { schema: schema, problems: problems };
  }

  function open(element, file, options) {
    state = { element: element, file: file, options: options, schema: { type: "object", properties: {} } };
    message.textContent = "";
    nameInput.value = file || (element.id + ".schema.json");
    nameInput.disabled = !!file;
    var load = file
      ? (options.edited[file] ? Promise.resolve(options.edited[file]) : window.rf.getText(options.fileUrl(file)))
      : Promise.resolve(null);
    load.then(function (text) {
      if (text) state.schema = JSON.parse(text);
      fill(state.schema);
      dialog.showModal();
    }, function (err) { window.rf.say("The form could not be opened: " + err.message, "error"); });
  }

  function save(event) {
    event.preventDefault();
    var name = nameInput.value.trim();
    if (!/^[A-Za-z0-9_.-]+\.schema\.json$/.test(name)) { message.textContent = "The file name must end in .schema.json."; return; }
    if (!state.file && state.options.known().indexOf(name) >= 0) { message.textContent = name + " exists: pick it in the Form list."; return; }
    var result = collect();
    if (result.problems.length) { message.textContent = result.problems.join("; "); return; }
    state.options.edited[name] = JSON.stringify(result.schema, null, 2) + "\n";
    if (!state.file) state.options.setForm(state.element, name);
    state.options.changed();
    dialog.close();
    window.rf.say("Form " + name + " changed: it is sent with the diagram when you validate or deploy.", "info");
  }

  dialog.querySelector("form").addEventListener("submit", save);
  dialog.querySelector("[data-action=add-field]").addEventListener("click", function () { addRow("", {}, false); });
  dialog.querySelector("[data-action=cancel]").addEventListener("click", function () { dialog.close(); });

  window.rfFormEditor = {
    attach: function (modeler, options) {
      modeler.get("eventBus").on("retention.editForm", function (event) { open(event.element, event.file, options); });
    },
  };
})();
