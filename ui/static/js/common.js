// Shared by the diagram and chart pages: JSON from the page, CSRF-protected POSTs,
// plain-word status messages. No build step; loaded before the page's own script.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  var SESSION_ENDED = "Your session has ended. Please log in again (reload the page); unsaved changes are lost when you leave it.";

  // A page request without a session is redirected to the login page.
  function endedSession(response) {
    return response.redirected && response.url.indexOf("/login") >= 0;
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
      if (endedSession(response)) return { status: 401, body: { detail: SESSION_ENDED } };
      var type = response.headers.get("content-type") || "";
      var body = type.indexOf("json") >= 0 ? response.json() : response.text();
      return body.then(function (parsed) { return { status: response.status, body: parsed }; });
    });
  }

  function getText(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (endedSession(response)) throw new Error(SESSION_ENDED);
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
    if (answer.body && typeof answer.body.detail === "string") return answer.body.detail;
    if (answer.status === 401) return SESSION_ENDED;
    if (answer.status === 403) return "Refused: the page has expired or your role does not allow this. Reload the page and try again.";
    if (answer.status === 404) return "Not found: the version or file no longer exists.";
    return "The server answered " + answer.status + ".";
  }

  window.rf = { csrfToken: csrfToken, pageData: pageData, postJSON: postJSON, getText: getText, say: say, problem: problem };
})();
