"""The server under test is measured from /proc: CPU time and memory of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from voicebot.bench.server import ServerProcess, cpu_secs, process_tree, rss_bytes

# Busy, and writing to every page of 60 MB all the time: an untouched page is not resident, and the kernel may
# reclaim one left idle.
BUSY = """
x = bytearray(60_000_000)
ones = bytes([1]) * len(x[::4096])
while True:
    x[::4096] = ones
"""


def test_the_tree_includes_children_and_their_cpu_and_memory():
    child = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in process_tree(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = process_tree(os.getpid())
        assert os.getpid() in tree and child.pid in tree
        before = cpu_secs([child.pid])

        def counted() -> bool:  # as the child runs, however busy the machine is
            return cpu_secs([child.pid]) - before >= 0.2 and rss_bytes([child.pid]) > 50_000_000

        while not counted() and time.monotonic() < deadline + 10:
            time.sleep(0.05)
        assert cpu_secs([child.pid]) - before >= 0.2
        assert rss_bytes([child.pid]) > 50_000_000
        assert rss_bytes(tree) > rss_bytes([os.getpid()])
    finally:
        child.kill()
        child.wait()
    assert cpu_secs([2**22 + 7]) == 0 and rss_bytes([2**22 + 7]) == 0  # gone processes count nothing


HEALTHZ = """
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"pid": 1}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
print("serving", flush=True)
open(sys.argv[2] + ".txt", "w").write("a record")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_a_kept_server_leaves_its_log_and_data_behind(tmp_path):
    """``voicebot bench --keep``: a run's call records and log outlive the run, for a turn to be looked into."""
    script = tmp_path / "healthz.py"
    script.write_text(HEALTHZ)
    command = ["{python}", str(script), "{port}", "{data_dir}"]
    with ServerProcess("stand-in", command, keep=tmp_path / "kept") as server:
        assert httpx.get(f"{server.http_url}/healthz").status_code == 200
    assert "serving" in (tmp_path / "kept" / "server.log").read_text()
    assert (tmp_path / "kept" / "data.txt").read_text() == "a record"
    with ServerProcess("stand-in", command) as server:
        gone = server.log_path
    assert not gone.exists()  # not kept: nothing is left behind
