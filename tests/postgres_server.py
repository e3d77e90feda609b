"""A real PostgreSQL server on a loopback port with a throwaway data directory, for the PostgreSQL back ends.

It asks for a password (scram-sha-256), as a production server would, so the
URL's secret is exercised. PostgreSQL refuses to run as root: as root, the
server runs as the ``postgres`` user that Debian's package creates.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER, PASSWORD = "voicebot", "s3cret-pg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does)")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self._bin = _bin_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="voicebot-pg-"))
        self._run_as = "postgres" if os.geteuid() == 0 else None
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self._dir, entry.pw_uid, entry.pw_gid)
        self.port = _free_port()
        self._data = self._dir / "data"
        pwfile = self._dir / "pw"
        pwfile.write_text(PASSWORD)
        if self._run_as:
            os.chown(pwfile, pwd.getpwnam(self._run_as).pw_uid, -1)
        self._pg("initdb", "-D", str(self._data), "-U", USER, "--pwfile", str(pwfile), "--auth", "scram-sha-256",
                 "-E", "UTF8", "--no-sync")  # fmt: skip
        self._proc: subprocess.Popen | None = None
        self.start()

    def _command(self, tool: str, *args: str) -> list[str]:
        command = [str(self._bin / tool), *args]
        return ["runuser", "-u", self._run_as, "--", *command] if self._run_as else command

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(self._command(tool, *args), check=True, capture_output=True)

    def start(self) -> None:
        self._proc = subprocess.Popen(
            self._command("postgres", "-D", str(self._data), "-p", str(self.port), "-h", "127.0.0.1",
                          "-k", str(self._dir), "-c", "fsync=off", "-c", "max_connections=100"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if self._ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL did not start on port {self.port}")

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def url(self, database: str) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database, so each test starts from nothing: its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """A fast shutdown: connected clients are cut off, as when a database server goes away under them."""
        if self._proc is not None:
            self._pg("pg_ctl", "stop", "-D", str(self._data), "-m", "fast", "-w")
            self._proc.wait(timeout=30)
            self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
