"""A private PostgreSQL and Redis for the fault bench: restarting the machine's shared
servers would break everyone else's work, so ``bench/faults.py`` restarts its own.

PostgreSQL: ``initdb`` in a temporary folder (run as the ``postgres`` user when started as
root, since the server refuses to run as root), trust auth, 127.0.0.1 only, on a free port.
Redis: ``redis-server`` with no persistence on a free port. Both are stopped and removed
at the end."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found: a private PostgreSQL needs the server package")
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


class PrivatePostgres:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rf-faults-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        init = [_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"]
        subprocess.run(_as_postgres(init), check=True, capture_output=True)  # noqa: S603
        self.start()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder}"
        cmd = [_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log")]
        cmd += ["-o", options, "-w", *args]
        subprocess.run(_as_postgres(cmd), check=True, capture_output=True)  # noqa: S603

    def start(self) -> None:
        self._ctl("start")
        _wait_port(self.port)

    def restart(self) -> float:
        """``pg_ctl restart -m fast`` (connections cut, no data lost); seconds it took."""
        began = time.monotonic()
        self._ctl("restart", "-m", "fast")
        _wait_port(self.port)
        return time.monotonic() - began

    def stop(self) -> None:
        try:
            self._ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port)

    def restart(self) -> float:
        """kill -9 and start again (it keeps nothing on disk); seconds it took."""
        began = time.monotonic()
        self.stop()
        self.start()
        return time.monotonic() - began

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
