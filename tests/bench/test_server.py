"""The server under test is measured from /proc: CPU time and memory of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from voicebot.bench.server import cpu_secs, process_tree, rss_bytes


def test_the_tree_includes_children_and_their_cpu_and_memory():
    child = subprocess.Popen([sys.executable, "-c", "import time\nx = bytearray(60_000_000)\nwhile True: pass"])
    try:
        deadline = time.monotonic() + 10
        while child.pid not in process_tree(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = process_tree(os.getpid())
        assert os.getpid() in tree and child.pid in tree
        before = cpu_secs([child.pid])
        time.sleep(0.5)
        assert cpu_secs([child.pid]) - before > 0.2  # a busy loop uses most of a core
        assert rss_bytes([child.pid]) > 50_000_000
        assert rss_bytes(tree) > rss_bytes([os.getpid()])
    finally:
        child.kill()
        child.wait()
    assert cpu_secs([2**22 + 7]) == 0 and rss_bytes([2**22 + 7]) == 0  # gone processes count nothing
