"""A real HTTP server on loopback that plays a third-party API we cannot reach from here.

Subclasses implement the documented subset of one API; this base records every
request and injects faults (an error status with headers, or a delay) so tests
can drive the client through throttling, outages and recovery.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: str  # raw, still percent-encoded
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class StandIn:
    def __init__(self):
        self.requests: list[Request] = []
        self.delay = 0.0
        self._faults: list[Reply] = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 65536  # one write per response: no Nagle/delayed-ACK stall on keep-alive

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                url = urlsplit(self.path)
                request = Request(self.command, url.path, url.query, dict(self.headers), self.rfile.read(length))
                reply = stand_in._dispatch(request)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    if payload:
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout under test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: Any = None):
        with self._lock:
            self._faults.extend(Reply(status, body, headers or {}) for _ in range(times))

    def heal(self) -> None:
        with self._lock:
            self._faults.clear()
        self.delay = 0.0

    def _dispatch(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            fault = self._faults.pop(0) if self._faults else None
        if self.delay:
            time.sleep(self.delay)
        if fault is not None:
            return fault
        return self.handle(request)

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
