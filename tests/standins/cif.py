"""A Dynamics org's ``/webresources/Widget/msdyn_ciLibrary.js``: a stand-in ``Microsoft.CIFramework`` that records.

The real library only runs inside Dynamics, so this one defines the CIF v2
calls the widget makes, checks their arguments as the API reference types them
(entity names and OData queries as strings, ``openForm``'s two JSON strings, a
session template name and a session id), records each call in
``window.__cif`` and answers as the real one does (``createSession`` with a
session id); a wrong argument rejects, as the real API's error callback would.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIBRARY = r"""
(function () {
  const script = document.currentScript;
  const calls = [];
  window.__cif = calls;
  window.__cifLoadedWith = {crmurl: script && script.dataset.crmurl, cifid: script && script.dataset.cifid};
  let sessions = 0;
  const fail = (why) => Promise.reject(new Error(why));
  const isJson = (text) => { try { JSON.parse(text); return typeof text === "string"; } catch { return false; } };
  const api = {
    setMode(mode) {
      calls.push({name: "setMode", args: [mode]});
      return [0, 1].includes(mode) ? Promise.resolve() : fail("mode");
    },
    createSession(input) {
      calls.push({name: "createSession", args: [input]});
      if (!input || typeof input.templateName !== "string" || !input.templateName) return fail("templateName");
      sessions += 1;
      return Promise.resolve("session-" + sessions);
    },
    setSessionTitle(input) {
      calls.push({name: "setSessionTitle", args: [input]});
      return input && /^session-\d+$/.test(input.sessionId) ? Promise.resolve() : fail("sessionId");
    },
    searchAndOpenRecords(entityName, query, searchOnly) {
      calls.push({name: "searchAndOpenRecords", args: [entityName, query, searchOnly]});
      const typed = typeof entityName === "string" && typeof query === "string" && typeof searchOnly === "boolean";
      if (!typed || !query.startsWith("?")) return fail("searchAndOpenRecords arguments");
      return Promise.resolve(JSON.stringify({}));
    },
    openForm(entityFormOptions, formParameters) {
      calls.push({name: "openForm", args: [entityFormOptions, formParameters]});
      const strings = isJson(entityFormOptions) && (formParameters === undefined || isJson(formParameters));
      if (!strings) return fail("openForm takes JSON strings");
      return Promise.resolve(JSON.stringify({savedEntityReference: []}));
    },
  };
  window.Microsoft = window.Microsoft || {};
  setTimeout(() => { window.Microsoft.CIFramework = api; }, 200);  // it initialises after the page's own script runs
})();
"""


class DynamicsOrg:
    """Serves the CIF library at the path Dynamics serves it."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/webresources/Widget/msdyn_ciLibrary.js":
                    self.send_error(404)
                    return
                body = LIBRARY.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/javascript")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
