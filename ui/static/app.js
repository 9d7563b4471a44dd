// retention-flow web UI: keyboard shortcuts and small helpers. No build step.
//
// Shortcuts are declared in the page: any element with data-shortcut="k" is clicked
// (or focused, for inputs) when "k" is pressed outside a text field (Escape leaves one);
// data-shortcut-label names it in the help dialog ("?"). A key written like "ctrl+enter"
// also works inside text fields.
(function () {
  "use strict";

  // Where letters are text (or pick an option): single-key shortcuts stay out of there.
  // Radios, check boxes and buttons are not: on them the shortcuts work.
  var NOT_TEXT = { radio: 1, checkbox: 1, button: 1, submit: 1, reset: 1, file: 1 };
  function typing(target) {
    var tag = (target && target.tagName) || "";
    if (tag === "INPUT") return !NOT_TEXT[(target.type || "").toLowerCase()];
    return tag === "TEXTAREA" || tag === "SELECT" || Boolean(target && target.isContentEditable);
  }

  function keyName(event) {
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key.toLowerCase();
    if (event.ctrlKey || event.metaKey) key = "ctrl+" + key;
    return key;
  }

  function shortcuts() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-shortcut]"));
  }

  function showHelp() {
    var dialog = document.getElementById("shortcut-help");
    var list = dialog && dialog.querySelector("[data-shortcut-list]");
    if (!dialog || !list) return;
    list.textContent = "";
    var rows = [["?", "Show this help"]];
    shortcuts().forEach(function (el) {
      rows.push([el.getAttribute("data-shortcut"), el.getAttribute("data-shortcut-label") || el.textContent.trim()]);
    });
    document.querySelectorAll("[accesskey]").forEach(function (el) {
      rows.push(["Alt+" + el.getAttribute("accesskey"), el.textContent.trim()]);
    });
    rows.forEach(function (row) {
      var dt = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = row[0];
      dt.appendChild(kbd);
      var dd = document.createElement("dd");
      dd.textContent = row[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
    dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.defaultPrevented) return;
    var key = keyName(event);
    var inField = typing(event.target);
    if (inField && key === "escape") {
      event.target.blur();  // leave the field: the shortcuts work again
      return;
    }
    if (!inField && key === "?") {
      event.preventDefault();
      showHelp();
      return;
    }
    var match = shortcuts().find(function (el) {
      var wanted = el.getAttribute("data-shortcut").toLowerCase();
      if (wanted !== key) return false;
      return !inField || wanted.indexOf("ctrl+") === 0;
    });
    if (!match || match.disabled) return;
    event.preventDefault();
    if (typing(match)) match.focus();
    else match.click();
  });

  // After a refused submit, start at the first field that needs attention.
  document.addEventListener("DOMContentLoaded", function () {
    var invalid = document.querySelector("[aria-invalid=true]");
    if (!invalid) return;
    var target = invalid.matches("input, select, textarea") ? invalid : invalid.querySelector("input, select, textarea");
    if (target) target.focus();
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcut-help]")) showHelp();
  });

  // Drop zones: <div class="dropzone" data-dropzone-for="input-id"> puts dropped files
  // into the file input and submits its form.
  document.addEventListener("dragover", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone-for]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.add("over");
  });
  document.addEventListener("dragleave", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone-for]");
    if (zone) zone.classList.remove("over");
  });
  document.addEventListener("drop", function (event) {
    var zone = event.target.closest && event.target.closest("[data-dropzone-for]");
    if (!zone) return;
    event.preventDefault();
    zone.classList.remove("over");
    var input = document.getElementById(zone.getAttribute("data-dropzone-for"));
    if (!input || !event.dataTransfer.files.length) return;
    input.files = event.dataTransfer.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    if (input.form) input.form.requestSubmit();
  });

  // Upload forms marked data-upload-each send one file per request, each with its own
  // row showing the upload's progress and then the server's answer (a fragment).
  function uploadOne(form, file, results) {
    return new Promise(function (resolve) {
      var row = document.createElement("article");
      row.className = "card scan-result";
      row.textContent = file.name + " — uploading…";
      results.prepend(row);
      var data = new FormData();
      data.append("csrf_token", form.querySelector("[name=csrf_token]").value);
      data.append("files", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("HX-Request", "true");
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) {
          var done = Math.round((100 * event.loaded) / event.total);
          row.textContent = file.name + " — uploading " + done + " %" + (done === 100 ? ", reading…" : "");
        }
      };
      xhr.onload = function () {
        if (xhr.status === 200) {
          var holder = document.createElement("div");
          holder.innerHTML = xhr.responseText;  // our own server-rendered, escaped fragment
          var answer = holder.firstElementChild || holder;
          row.replaceWith(answer);
          if (window.htmx) window.htmx.process(answer);
        } else {
          row.textContent = file.name + " — not uploaded (" + xhr.status + (xhr.status === 413 ? ": too large" : "") + ").";
          row.classList.add("flash", "flash-error");
        }
        resolve();
      };
      xhr.onerror = function () {
        row.textContent = file.name + " — not uploaded: the server cannot be reached.";
        row.classList.add("flash", "flash-error");
        resolve();
      };
      xhr.send(data);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-upload-each")) return;
    var input = form.querySelector("input[type=file]");
    var results = document.getElementById("scan-results");
    if (!input || !input.files.length || !results) return;
    event.preventDefault();
    var empty = results.querySelector("[data-empty]");
    if (empty) empty.remove();
    var files = Array.prototype.slice.call(input.files);
    files.reduce(function (chain, file) {
      return chain.then(function () { return uploadOne(form, file, results); });
    }, Promise.resolve()).then(function () { input.value = ""; });
  });

  // An expired session during an htmx refresh: the server answers HX-Redirect to the
  // login page, which htmx follows. Other failed refreshes show one plain message.
  document.addEventListener("htmx:responseError", function (event) {
    var area = document.getElementById("flash");
    if (!area) return;
    area.textContent = "";
    var p = document.createElement("p");
    p.className = "flash flash-error";
    p.textContent = "The page could not be updated (" + event.detail.xhr.status + "). Reload to try again.";
    area.appendChild(p);
  });
  document.addEventListener("htmx:sendError", function () {
    var area = document.getElementById("flash");
    if (!area) return;
    area.textContent = "";
    var p = document.createElement("p");
    p.className = "flash flash-warn";
    p.textContent = "The server cannot be reached; the page will update when it is back.";
    area.appendChild(p);
  });

  // Forms marked data-keep-scroll (the team page's reassign) bring the reader back to
  // where they were after the page reloads, instead of the top.
  var SCROLL_KEY = "rf-scroll:" + location.pathname + location.search;
  document.addEventListener("submit", function (event) {
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-keep-scroll")) {
      try { sessionStorage.setItem(SCROLL_KEY, String(window.scrollY)); } catch (e) { /* private mode */ }
    }
  });
  window.addEventListener("load", function () {
    var saved = null;
    try { saved = sessionStorage.getItem(SCROLL_KEY); sessionStorage.removeItem(SCROLL_KEY); } catch (e) { return; }
    if (saved !== null) window.scrollTo(0, parseInt(saved, 10) || 0);
  });

  // A scan exception's "Use RC-..." button: the case number into the form, "assign" chosen.
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("[data-fill-case]") : null;
    if (!button) return;
    var input = document.getElementById("f-case_number");
    if (input) input.value = button.getAttribute("data-fill-case");
    var assign = document.querySelector("input[name='decision'][value='assign']");
    if (assign) assign.checked = true;
    if (input) input.focus();
  });
})();
