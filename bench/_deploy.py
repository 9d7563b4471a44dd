"""``retention-flow up`` in a child process for the benches (scale_out, faults)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _common import ROOT
from _servers import free_port


class Up:
    """``retention-flow up`` in a child process, its events read in a thread."""

    def __init__(
        self, url: str, api: int, workers: int, secret: str, *args: str, **env: str
    ) -> None:
        self.port = free_port()
        environ = {
            **os.environ,
            "RETENTION_FLOW_DATABASE_URL": url,
            "RETENTION_FLOW_SECRET_KEY": secret,
            "PYTHONPATH": str(ROOT / "src"),
            "RETENTION_FLOW_AUDIT_CHECKPOINT_SECONDS": "0",
            **env,
        }
        cmd = [sys.executable, "-m", "retention_flow.cli", "up", "--api", str(api)]
        cmd += ["--workers", str(workers), "--port", str(self.port), *args]
        log = os.environ.get("RETENTION_FLOW_BENCH_UP_LOG")  # the processes' output
        stderr = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 (our own command line)
            cmd, env=environ, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def ready(self, api: int, timeout: float = 120) -> None:
        """Every serving process answers (each has started and the port answers)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = any(e["event"] == "up" for e in self.events)
            try:
                if up and httpx.get(f"{self.base}/ready", timeout=2).status_code == 200:
                    time.sleep(min(10.0, 2.0 * api))  # the other processes finish importing
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise SystemExit("the deployment did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)

    def pid(self, role: str, index: int) -> int | None:
        """The current process of ``role`` number ``index`` (its latest start)."""
        started = [
            e["pid"]
            for e in self.events
            if e["event"] == "started" and e["role"] == role and e["index"] == index
        ]
        return started[-1] if started else None

    def listening(self, pid: int) -> bool:
        """Whether process ``pid`` holds a listening socket on the deployment's port
        (Linux /proc: the serving process has finished starting)."""
        port = f":{self.port:04X}"
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                cols = line.split()
                if cols[1].endswith(port) and cols[3] == "0A":  # 0A: LISTEN
                    inodes.add(f"socket:[{cols[9]}]")
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            return False
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return True
            except OSError:
                continue
        return False

    def back(self, role: str, index: int, old_pid: int | None, timeout: float) -> float | None:
        """Seconds until ``role`` ``index`` runs again under a new pid (and, for a
        serving process, listens); None when not within ``timeout``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            pid = self.pid(role, index)
            if pid is not None and pid != old_pid and (role != "api" or self.listening(pid)):
                return time.monotonic() - began
            time.sleep(0.1)
        return None
