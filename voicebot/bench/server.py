"""A server under test in a process of its own, with its CPU time and memory read from /proc.

Running it apart from the simulated callers keeps their work out of its
figures. CPU and RSS cover the whole process tree (children included).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
READY_TIMEOUT_SECS = 180.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants still running."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return tree


def _summed(pids: list[int], measure: Callable[[int], int]) -> int:
    """``measure`` over the processes still there (one may exit between listing and reading)."""
    total = 0
    for pid in pids:
        try:
            total += measure(pid)
        except OSError:
            continue
    return total


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def cpu_secs(pids: list[int]) -> float:
    return _summed(pids, _cpu_ticks) / CLOCK_TICKS


def open_fds(pids: list[int]) -> int:
    return _summed(pids, lambda pid: len(os.listdir(f"/proc/{pid}/fd")))


def thread_count(pids: list[int]) -> int:
    return _summed(pids, lambda pid: len(os.listdir(f"/proc/{pid}/task")))


def rss_bytes(pids: list[int]) -> int:
    return _summed(pids, lambda pid: int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES)


@dataclass
class Usage:
    cpu_cores: float  # average cores busy over the window
    peak_rss_mb: float


class ServerProcess:
    """``command`` (with ``{port}`` and ``{data_dir}`` filled in) serving on a loopback port until closed."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        workers: int = 1,
        setup: list[list[str]] | None = None,
        keep: Path | None = None,
    ):
        self.name = name
        self._keep = keep  # where the server's log and data directory are copied when it stops
        self._setup = setup or []  # commands run to completion before the server starts (same placeholders)
        self.workers = workers
        self._command = command
        self._env = env or {}
        self._proc: subprocess.Popen | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
        self.log_path = Path(self._tmp.name) / "server.log"
        self.port = 0

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        data_dir = Path(self._tmp.name) / "data"
        fill = {"port": self.port, "data_dir": data_dir, "python": sys.executable}
        log = self.log_path.open("w")
        for step in self._setup:
            done = subprocess.run([p.format(**fill) for p in step], stdout=log, stderr=subprocess.STDOUT, check=False)
            if done.returncode:
                raise RuntimeError(f"{self.name} set-up {step[2:4]} failed: {self.log_path.read_text()[-2000:]}")
        command = [part.format(**fill) for part in self._command]
        self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self._env})
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Wait until every worker has answered: one still loading its models would leave the others all the calls.

        Each probe is a new connection, so any worker waiting on the shared socket may take it.
        """
        answered: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_SECS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} server exited: {self.log_path.read_text()[-2000:]}")
            try:
                response = httpx.get(f"{self.http_url}/healthz", timeout=1)
            except httpx.HTTPError:
                time.sleep(0.3)
                continue
            if response.status_code == 200:
                answered.add(response.json().get("pid", self.pid))
                if len(answered) >= self.workers:
                    return
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} server did not become ready in {READY_TIMEOUT_SECS:.0f} s"
            f" ({len(answered)} of {self.workers} workers answered)"
        )

    def __exit__(self, *exc) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._keep is not None:
            shutil.copytree(self._tmp.name, self._keep, dirs_exist_ok=True)
        self._tmp.cleanup()

    @property
    def _process(self) -> subprocess.Popen:
        if self._proc is None:
            raise RuntimeError(f"{self.name} server is not running")
        return self._proc

    @property
    def pid(self) -> int:
        return self._process.pid

    def measure(self) -> _Window:
        """A window over which CPU time and peak RSS are taken (``with server.measure() as usage:``)."""
        return _Window(self.pid)


class _Window:
    SAMPLE_SECS = 0.25

    def __init__(self, pid: int):
        self._pid = pid
        self._stop = threading.Event()
        self.usage: Usage | None = None
        self._peak = 0

    def _sample(self) -> None:
        while not self._stop.wait(self.SAMPLE_SECS):
            self._peak = max(self._peak, rss_bytes(process_tree(self._pid)))

    def __enter__(self) -> _Window:
        self._started = time.monotonic()
        self._cpu = cpu_secs(process_tree(self._pid))
        self._peak = rss_bytes(process_tree(self._pid))
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        tree = process_tree(self._pid)
        wall = time.monotonic() - self._started
        self.usage = Usage((cpu_secs(tree) - self._cpu) / wall, max(self._peak, rss_bytes(tree)) / 2**20)
