"""The small version of ``bench/engine_throughput.py``: it runs end to end on SQLite (and
on PostgreSQL when the suite runs there) and a step stays as lean as it was made —
statements per step on both, round trips per step on PostgreSQL (writes in one pipeline)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PER_STEP = re.compile(r"per step: ([\d.]+) statements, ([\d.]+) round trips")


def test_engine_bench_runs_small_and_a_step_stays_lean() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RETENTION_FLOW_BENCH_PG_URL"}
    pg = env.get("RETENTION_FLOW_TEST_DATABASE_URL")
    small = ["--cases", "4", "--rounds", "1", "--queue-sizes", "100"]
    proc = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "engine_throughput.py"), *small],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "(b: SQLite) service layer" in out and "ratio" in out, out
    figures = PER_STEP.findall(out)
    assert figures, out
    # SQLite: BEGIN, the reads a step needs (one), one statement per table written
    statements, _trips = map(float, figures[0])
    assert statements <= 5.5, out
    if pg:
        assert "(c: PostgreSQL) service layer" in out, out
        statements, trips = map(float, figures[1])
        # pre-ping, BEGIN, one read, the writes in one pipeline, COMMIT
        assert statements <= 4.5 and trips <= 5.0, out
