// Shared by the diagram and chart pages: JSON from the page, CSRF-protected POSTs,
// plain-word status messages. No build step; loaded before the page's own script.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Data the server put in <script type="application/json" id="..."> (never executed).
  function pageData(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  // POST JSON; answers {status, body} (body parsed when JSON). Network errors reject.
  function postJSON(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrfToken()
      },
      body: JSON.stringify(payload)
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      var body = type.indexOf("json") >= 0 ? response.json() : response.text();
      return body.then(function (parsed) { return { status: response.status, body: parsed }; });
    });
  }

  function getText(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("could not load " + url + " (" + response.status + ")");
      return response.text();
    });
  }

  // A plain message in the page's status area (role=status, read out by screen readers).
  function say(text, kind) {
    var area = document.getElementById("diagram-status") || document.getElementById("flash");
    if (!area) return;
    area.textContent = "";
    var p = document.createElement("p");
    p.className = "flash flash-" + (kind || "info");
    p.textContent = text;
    area.appendChild(p);
  }

  // What a failed answer says, in plain words (RFC 7807 bodies carry a detail).
  function problem(answer) {
    if (answer.status === 401 || answer.status === 303) return "Your session has ended. Please log in again.";
    if (answer.body && answer.body.detail) return answer.body.detail;
    return "The server answered " + answer.status + ".";
  }

  window.rf = { csrfToken: csrfToken, pageData: pageData, postJSON: postJSON, getText: getText, say: say, problem: problem };
})();
