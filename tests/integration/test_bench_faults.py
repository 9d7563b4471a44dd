"""The fault script, small: ``bench/faults.py`` on its own PostgreSQL and Redis (it
restarts them, so never the shared servers), kill -9 of serving processes, a worker and
the OCR worker, and server restarts under load; nothing acknowledged is lost, nothing
doubled, and the audit trail verifies. The bench's own figures come from longer runs by
hand (README, Tests and benchmarks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import SRC

BENCH = Path(__file__).resolve().parents[2] / "bench" / "faults.py"


@pytest.mark.no_test_database
def test_faults_lose_and_double_nothing(tmp_path: Path) -> None:
    if shutil.which("redis-server") is None or not list(
        Path("/usr/lib/postgresql").glob("*/bin/initdb")
    ):
        pytest.skip("needs the PostgreSQL server package and redis-server")
    done = subprocess.run(  # noqa: S603 (our own bench)
        [sys.executable, str(BENCH), "--seconds", "15", "--agents", "3", "--workers", "2"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr[-3000:]
    assert "lost: 0 " in out and "doubled: 0 " in out and "verify-audit: ok" in out, out
    acknowledged = int(out.split("acknowledged operations: ", 1)[1].split()[0])
    assert acknowledged > 0
    for fault in ("api:0", "api:1", "worker:", "ocr:0", "postgres", "redis"):
        assert fault in out, out
    assert "not back" not in out, out
