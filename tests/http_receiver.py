"""A real HTTP server on loopback that records what is POSTed to it.

It stands in for the systems voicebot calls out to that cannot run here (an
agent-desktop integration receiving screen pops), answering with a chosen status.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HTTPReceiver:
    """Records every POST (headers and body); ``status(n)`` answers the n-th request (1-based)."""

    def __init__(self, status: Callable[[int], int] = lambda n: 204):
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(status(len(receiver.requests)))
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/screen-pop"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pops_for(self, call_id: str, timeout: float = 10.0) -> list[dict]:
        """Screen pops received for ``call_id``, waiting up to ``timeout`` for the first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [r for r in self.requests if json.loads(r["body"])["call"]["id"] == call_id]
            if found:
                return found
            time.sleep(0.05)
        return []

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
