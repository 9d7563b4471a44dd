"""CPU time spent by each side of bench/simulate_day.py's HTTP mode while it measures:
the deployment's processes (serving + worker), the PostgreSQL backends of its database
and the client itself (read from /proc, Linux; the machine is shared, so CPU seconds per
request say more about capacity than wall time does)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import text

from retention_flow.db.session import create_db_engine

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of process ``pid`` (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pg_backends(url: str) -> list[int]:
    """The server processes of the database's connections (a local server)."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        engine.dispose()
    return [int(r.pid) for r in rows]


class CpuMeter:
    """CPU seconds between ``start`` and ``stop``, by side."""

    def __init__(self, url: str, deployment: list[int]) -> None:
        self.url, self.deployment = url, deployment
        self.pg = url.startswith("postgresql")
        self.before: dict[int, float] = {}
        self.client = 0.0
        self.seconds: dict[str, float] = {}

    def _sample(self, pids: list[int]) -> dict[int, float]:
        return {p: s for p in pids if (s := cpu_seconds(p)) is not None}

    def start(self) -> None:
        self.before = self._sample(self.deployment + (pg_backends(self.url) if self.pg else []))
        self.client = time.process_time()

    def stop(self) -> None:
        client = time.process_time() - self.client
        after_pg = self._sample(pg_backends(self.url)) if self.pg else {}
        after = self._sample(self.deployment)

        def spent(now: dict[int, float]) -> float:
            # a backend that started meanwhile counts whole
            return sum(s - self.before.get(p, 0.0) for p, s in now.items())

        self.seconds = {"deployment": spent(after), "client": client}
        if self.pg:
            self.seconds["postgres"] = spent(after_pg)
